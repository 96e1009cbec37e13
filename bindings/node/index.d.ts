// Type declarations of agentauthz, the Node.js binding of libagentauthz.
// Every call is synchronous. Secrets reach JavaScript only inside a
// withValue() callback, as a SecretBuffer that is zeroed when it returns.

/// <reference types="node" />

/** The library's error codes, by name (negative numbers). */
export declare const CODES: Readonly<{
    OK: 0; EINVAL: -1; ENOMEM: -2; EIO: -3; EPOLICY: -4; ENOPOLICY: -5; ENOTASK: -6;
    EIDENTITY: -7; EPARAM: -8; EJSON: -9; ELIMIT: -10; ESESSION: -11; ENOTFOUND: -12;
    EDENIED: -13; ECRYPTO: -14; ETOKEN: -15; ESIGNATURE: -16; EEXPIRED: -17;
    EAUDIENCE: -18; EPERM: -19; EEXIST: -20; EPROVIDER: -21; ETAMPER: -22;
    EALGORITHM: -23; EKEYID: -24; ETOKENTYPE: -25;
}>;

export type ErrorCode = Exclude<keyof typeof CODES, 'OK'> | 'EUNKNOWN';

/** A failed call: code is the name ('ENOTASK'), errno the library's number. */
export declare class AgentAuthzError extends Error {
    readonly code: ErrorCode;
    readonly errno: number;
}

// One class per family of codes, as in the Python binding.
/** EINVAL: misuse, such as a closed handle. */
export declare class InvalidArgumentError extends AgentAuthzError {}
/** ENOMEM. */
export declare class OutOfMemoryError extends AgentAuthzError {}
/** EIO, EPERM, EEXIST: a file could not be used. */
export declare class FileError extends AgentAuthzError {}
/** ENOPOLICY: no policy is loaded. */
export declare class NoPolicyError extends AgentAuthzError {}
/** A session could not be opened for this identity, task and parameters. */
export declare class SessionOpenError extends AgentAuthzError {}
/** ENOTASK. */
export declare class UnknownTaskError extends SessionOpenError {}
/** EIDENTITY: the identity may not open the task. */
export declare class IdentityError extends SessionOpenError {}
/** EPARAM: task parameters missing, undeclared or of the wrong type. */
export declare class ParamError extends SessionOpenError {}
/** EJSON. */
export declare class JSONError extends AgentAuthzError {}
/** ELIMIT: a size, depth or count bound was hit. */
export declare class LimitError extends AgentAuthzError {}
/** ESESSION: the session (or a token's session) has ended or was revoked. */
export declare class SessionEndedError extends AgentAuthzError {}
/** ENOTFOUND: no such secret. */
export declare class NotFoundError extends AgentAuthzError {}
/** EDENIED: a lease or substitution was refused. */
export declare class RefusedError extends AgentAuthzError {}
/** ECRYPTO: a key is malformed. */
export declare class CryptoError extends AgentAuthzError {}
/** ETOKEN: a task token is malformed or not valid yet. */
export declare class TokenError extends AgentAuthzError {}
/** ESIGNATURE. */
export declare class SignatureError extends TokenError {}
/** EEXPIRED. */
export declare class ExpiredError extends TokenError {}
/** EAUDIENCE. */
export declare class AudienceError extends TokenError {}
/** EALGORITHM: the token's "alg" is "none" or not EdDSA. */
export declare class AlgorithmError extends TokenError {}
/** EKEYID: the token's "kid" is missing or names no key the verifier holds. */
export declare class KeyIdError extends TokenError {}
/** ETOKENTYPE: the token's "typ" is not txntoken+jwt. */
export declare class TokenTypeError extends TokenError {}
/** EPROVIDER: the host's secret provider refused (or threw). */
export declare class ProviderError extends AgentAuthzError {}
/** ETAMPER: an audit log's MAC chain is broken; report says where. */
export declare class TamperError extends AgentAuthzError {
    readonly report: AuditReport | null;
}

/** One finding of a policy load. */
export declare class Diagnostic {
    readonly code: ErrorCode;
    readonly errno: number;
    readonly message: string;
    readonly file: string;
    readonly line: number;
    readonly column: number;
    readonly offset: number;
    readonly warning: boolean;
    /** "file:line:column: error: message" */
    toString(): string;
}

/** A policy did not load; the previous policy stays in force. */
export declare class PolicyError extends AgentAuthzError {
    readonly file: string;
    readonly line: number;
    readonly column: number;
    /** Every error the loader found, the first one first. */
    readonly diagnostics: Diagnostic[];
    readonly warnings: Diagnostic[];
}

/** A clock: monotonic (or, for wallClock, Unix) nanoseconds. */
export type Clock = (() => number | bigint) | { now(): number | bigint };

/** A clock for tests that moves only when told to. */
export declare class FakeClock {
    constructor(startNs?: number | bigint);
    ns: bigint;
    now(): bigint;
    /** Moves the clock forward; returns the new reading. */
    advance(seconds: number): bigint;
}

/** What the host secret provider is asked to issue or revoke: names and ids, never a value. */
export interface SecretRequest {
    readonly secret: string;
    readonly session: string;
    readonly identity: string;
    readonly task: string;
    /** Seconds the value must stay valid. */
    readonly ttl: number;
}

export interface EngineOptions {
    /** TTLs are measured on this clock (default: CLOCK_MONOTONIC). */
    clock?: Clock;
    /** Token and audit times come from this clock (default: CLOCK_REALTIME). */
    wallClock?: Clock;
    /** The signing, master and audit keys (default: fresh ones); borrowed until the engine closes. */
    keys?: Keys;
    /**
     * The policy's `host` provider: returns the value, 8 to 4096 bytes, synchronously.
     * Throwing or returning anything else refuses (ProviderError at session open).
     */
    secretIssue?: (request: SecretRequest) => Uint8Array;
    /** Told when a host secret ends; must not call the engine. A throw is a process warning. */
    secretRevoke?: (request: SecretRequest) => void;
    /** The engine's name in audit records. */
    name?: string;
}

export interface AuditOptions {
    /** An append-only file (mode 0600; an existing log is resumed). */
    path?: string;
    /**
     * Given every record (a Buffer ending in a newline) while the log's lock is held:
     * quick, and no calls into the engine. If it throws, every later decision is a
     * deny until setAudit() is called again.
     */
    callback?: (line: Buffer) => void;
    /** When the file's records are written: each one (default), buffered, or every flushEvery. */
    flush?: 'record' | 'none' | 'everyN';
    flushEvery?: number;
    /** Records between signed checkpoints (default 1000; 0: only at a reopen and at close). */
    checkpointEvery?: number;
    /** fsync(2) after every write. */
    fsync?: boolean;
}

export interface PolicyInfo {
    name: string;
    hash: string;
    rules: number;
    tasks: number;
    secrets: number;
    identities: number;
    generation: number;
}

/** JSON values: what arguments and parameters may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface SessionOptions {
    /** The task's parameters. */
    params?: { [name: string]: JsonValue };
    /** Seconds; default: the policy's session TTL. */
    ttl?: number;
}

export declare class Engine {
    constructor(options?: EngineOptions);
    readonly closed: boolean;
    /** Loads files and directories as one policy; returns the warnings. Throws PolicyError. */
    load(...paths: string[]): Diagnostic[];
    /** Loads a policy from YAML text; name labels errors. Throws PolicyError. */
    loadString(text: string | Uint8Array, name?: string): Diagnostic[];
    policyInfo(): PolicyInfo;
    /** Opens a session; throws AgentAuthzError (ENOTASK, EIDENTITY, EPARAM, ENOPOLICY). */
    session(identity: string, task: string, options?: SessionOptions): Session;
    /** Ends the sessions whose TTL has passed; returns how many. */
    sweep(): number;
    /** The raw 32-byte Ed25519 key task tokens verify with. */
    readonly publicKey: Buffer;
    /** "azpk1.<base64url>" */
    readonly publicKeyText: string;
    /** The public key as a JWK Set (JSON text), for JWT libraries and gateways. */
    readonly jwks: string;
    /** Starts the audit log; with neither path nor callback, stops it. */
    setAudit(options?: AuditOptions): void;
    /** Reopens the audit file after log rotation renamed it. */
    auditReopen(): void;
    /**
     * Verifies a task token and checks the action for its identity and task under this
     * engine's policy. Throws TokenError (and subclasses) or SessionEndedError for a bad token.
     */
    checkToken(verifier: Verifier, token: string | Uint8Array, request: CheckRequest | string): Decision;
    checkToken(verifier: Verifier, token: string | Uint8Array, tool: string,
        rest: Omit<CheckRequest, 'tool'>): Decision;
    /** Closes the open sessions and frees the engine. Idempotent. */
    close(): void;
}

/** What an agent is about to do. */
export interface CheckRequest {
    tool: string;
    resource?: string;
    destination?: string | string[];
    args?: { [key: string]: JsonValue | undefined };
    labels?: string | string[];
    /** Bytes scanned for leaked secrets. */
    payload?: string | Uint8Array;
}

export type Effect = 'allow' | 'deny' | 'ask';

export declare class Decision {
    readonly effect: Effect;
    /** The deciding rule's id, or 'session', 'limit', 'leak', 'input', 'catalogue', 'default'. */
    readonly rule: string;
    readonly reason: string;
    /** The check's number in its session, from 1. */
    readonly seq: number;
    /** True only for 'allow'. */
    readonly allowed: boolean;
    /** 0, or the code of an internal failure that forced a deny. */
    readonly error: number;
    toJSON(): { effect: Effect; rule: string; reason: string; seq: number; allowed: boolean };
}

/**
 * A Buffer holding secret bytes: String(), template literals, JSON and
 * util.inspect show a placeholder; toString(encoding) decodes.
 */
export interface SecretBuffer extends Buffer {}

declare class Guarded {
    /** Lends the bytes to fn, then zeroes them and releases; a promise is awaited first. */
    withValue<T>(fn: (value: SecretBuffer) => T): T;
    readonly released: boolean;
    release(): void;
}

export declare class Lease extends Guarded {
    readonly secret: string;
    /** False once released or once the session has ended. */
    readonly valid: boolean;
}

export declare class Substitution extends Guarded {}

export interface DelegateOptions extends SessionOptions {
    /** Tool names or globs the child may use (default: as the parent). */
    tools?: string | string[];
    /** Parent secrets to hand down. */
    secrets?: string | string[];
}

export declare class Session {
    /** 32 lowercase hex characters. */
    readonly id: string;
    readonly identity: string;
    readonly task: string;
    readonly parent: Session | null;
    readonly closed: boolean;
    check(request: CheckRequest | string): Decision;
    check(tool: string, rest: Omit<CheckRequest, 'tool'>): Decision;
    /** Approves an exact action (the ask's Decision, or a request). */
    approve(what: Decision | CheckRequest, options?: { scope?: 'once' | 'session' }): void;
    revoke(): void;
    close(): void;
    /** Leases a session secret for the action an allowing decision decided. */
    lease(decision: Decision, secret: string): Lease;
    /** Fills ${secret:NAME} placeholders for an allowed action. */
    substitute(decision: Decision, text: string | Uint8Array): Substitution;
    /**
     * Records what a tool returned, for the policy's from and not_from
     * predicates: text or bytes, or any JSON value (each string and number
     * in it). labels join the catalogue's output labels of tool (null: the
     * labels given only). Throws a LimitError (code ELIMIT) when the output
     * could not be recorded whole; later from and not_from checks that do
     * not find their value are then denied.
     */
    observe(tool: string | CheckRequest | null, output: string | Uint8Array | JsonValue,
            options?: { labels?: string | readonly string[] }): void;
    /** Replaces every live secret with [redacted:NAME]. */
    scrub(text: string): string;
    scrub(data: Uint8Array): Buffer;
    delegate(identity: string, task: string, options?: DelegateOptions): Session;
}

/** A task token's claims, named as the C struct names them (the JWT claim in each comment). */
export interface TokenClaims {
    /** sub */
    identity: string;
    /** scope */
    task: string;
    /** txn */
    session: string;
    /** aud */
    audience: string;
    /** iss */
    issuer: string | null;
    /** tctx.parent */
    parent: string | null;
    iat: number;
    exp: number;
    /** tctx.tools */
    tools: string[];
    /** tctx.params: the task parameters the policy shares (token_params), or null. */
    params: { [name: string]: JsonValue } | null;
}

export interface VerifyOptions {
    /** Required audience (default: any). */
    audience?: string;
    /** Tolerated clock skew in seconds, 0 to 86400 (default 60). */
    skew?: number;
    /** Unix seconds (default: the system clock). */
    now?: number;
}

/** What signToken signs: TokenClaims, with issuer, parent and tools optional. */
export interface SignClaims {
    identity: string;
    task: string;
    session: string;
    audience: string;
    /** Unix seconds. */
    iat: number;
    /** Unix seconds, not before iat. */
    exp: number;
    tools?: string[];
    issuer?: string | null;
    parent?: string | null;
    params?: { [name: string]: JsonValue } | null;
}

/** An engine's keys, in the library's guarded memory; only the public key reaches JavaScript. */
export declare class Keys {
    private constructor();
    /** Fresh random keys. */
    static generate(): Keys;
    /** Keys from the text of a key file; the caller's copy stays the caller's to wipe. */
    static load(text: string | Uint8Array): Keys;
    /** Keys from a key file (mode 0600 or 0400, else FileError). */
    static loadFile(path: string): Keys;
    /** Writes a new key file, mode 0600; never replaces one (FileError, EEXIST). */
    saveFile(path: string): void;
    /** "azpk1.<base64url>" */
    readonly publicText: string;
    /** The raw 32-byte Ed25519 public key. */
    readonly publicKey: Buffer;
    /** The public key as a JWK Set (JSON text). */
    readonly jwks: string;
    /** The key id of the tokens these keys sign (RFC 7638 JWK thumbprint). */
    readonly kid: string;
    /** A signed task token (a JWT). */
    signToken(claims: SignClaims): string;
    readonly closed: boolean;
    /** Wipes and frees the keys, once no open engine uses them. Idempotent. */
    close(): void;
}

export interface VerifierOptions {
    /** Required audience (default: any). */
    audience?: string;
    /** Tolerated clock skew in seconds, 0 to 86400 (default 60). */
    skew?: number;
    /** Size of the cache of verified tokens, 0 to 1048576 (default 1024). */
    cacheEntries?: number;
    /** A JWK Set (JSON text or object) to verify with, instead of a public key (give null). */
    jwks?: string | { keys: object[] };
}

/** A token verifier with a bounded cache and a revocation list, for downstream services. */
export declare class Verifier {
    constructor(publicKey: string | Uint8Array | Keys | null, options?: VerifierOptions);
    readonly audience: string | null;
    /** The claims; now is Unix seconds (default: the system clock). */
    verify(token: string | Uint8Array, now?: number): TokenClaims;
    /** Refuses every later token of that session or its children (SessionEndedError). */
    revoke(sessionId: string): void;
    readonly closed: boolean;
    /** Idempotent. */
    close(): void;
}

/**
 * Verifies a task token offline; throws TokenError or its subclasses (SignatureError,
 * ExpiredError, AudienceError, AlgorithmError, KeyIdError, TokenTypeError), LimitError
 * (over 8192 bytes, JSON over bounds) or JSONError (a duplicate key).
 */
export declare function verifyToken(publicKey: string | Uint8Array | Keys, token: string | Uint8Array,
    options?: VerifyOptions): TokenClaims;
/** The key id (RFC 7638 JWK thumbprint) of a public key. */
export declare function keyId(publicKey: string | Uint8Array | Keys): string;
/** The JWK Set (JSON text) of a public key. */
export declare function jwks(publicKey: string | Uint8Array | Keys): string;

export type AuditProblem = 'intact' | 'malformed' | 'truncated' | 'mac' | 'seq' | 'prev' | 'empty'
    | 'end' | 'engine' | 'logId' | 'signature' | 'unsigned';

/** The outcome of auditVerify (and TamperError.report). */
export declare class AuditReport {
    readonly problem: AuditProblem;
    readonly intact: boolean;
    /** Records that verified. */
    readonly records: number;
    readonly lastSeq: number;
    /** Where the problem is: an index into the paths, the path, the 1-based line. */
    readonly file: number;
    readonly path: string;
    readonly line: number;
    readonly reason: string;
    /** The log's schema version (1 or 2), its id, and the last record a verified signature covers. */
    readonly schema: number;
    readonly logId: string;
    readonly signedSeq: number;
}

/** What the verifier knows: the engine's keys, or its public key alone; its name; the last record. */
export interface AuditVerifyOptions {
    keys?: Keys | null;
    pubkey?: string | Uint8Array | Keys | null;
    engine?: string | null;
    expectLast?: number;
}

/** Verifies an audit log, its files oldest first; throws TamperError or FileError. */
export declare function auditVerify(keys: Keys | AuditVerifyOptions, ...paths: string[]): AuditReport;

export declare function strerror(errno: number): string;
/** The loaded C library's version, "MAJOR.MINOR.PATCH". */
export declare function libraryVersion(): string;
/**
 * The library this process loaded: the path of the copy bundled in the package
 * (prebuilds/<platform>-<arch>/), the AGENTAUTHZ_LIBRARY path, or 'libagentauthz.so.0'
 * (the system's, from the dynamic linker's search path).
 */
export declare const libraryPath: string;
