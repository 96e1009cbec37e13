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
}>;

export type ErrorCode = Exclude<keyof typeof CODES, 'OK'> | 'EUNKNOWN';

/** A failed call: code is the name ('ENOTASK'), errno the library's number. */
export declare class AgentAuthzError extends Error {
    readonly code: ErrorCode;
    readonly errno: number;
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

export interface EngineOptions {
    /** TTLs are measured on this clock (default: CLOCK_MONOTONIC). */
    clock?: Clock;
    /** Token times come from this clock (default: CLOCK_REALTIME). */
    wallClock?: Clock;
    /** The engine's name in audit records. */
    name?: string;
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
    /** The deciding rule's id, or 'session', 'limit', 'leak', 'default'. */
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
    /** Replaces every live secret with [redacted:NAME]. */
    scrub(text: string): string;
    scrub(data: Uint8Array): Buffer;
    delegate(identity: string, task: string, options?: DelegateOptions): Session;
}

export interface TokenClaims {
    identity: string;
    task: string;
    session: string;
    audience: string;
    issuer: string | null;
    parent: string | null;
    iat: number;
    exp: number;
    tools: string[];
}

export interface VerifyOptions {
    /** Required audience (default: any). */
    audience?: string;
    /** Tolerated clock skew in seconds, 0 to 86400 (default 60). */
    skew?: number;
    /** Unix seconds (default: the system clock). */
    now?: number;
}

/** Verifies a task token offline; throws ETOKEN, ESIGNATURE, EEXPIRED or EAUDIENCE. */
export declare function verifyToken(publicKey: string | Uint8Array, token: string | Uint8Array,
    options?: VerifyOptions): TokenClaims;

export declare function strerror(errno: number): string;
/** The loaded C library's version, "MAJOR.MINOR.PATCH". */
export declare function libraryVersion(): string;
