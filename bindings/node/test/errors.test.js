'use strict';
/* Errors: one AgentAuthzError subclass per family of codes, as in the Python binding. */

const test = require('node:test');
const assert = require('node:assert/strict');

const az = require('..');
const { errorFor } = require('../lib/errors');
const { engineWithPolicy } = require('./helpers');

const FAMILY = {
    EINVAL: 'InvalidArgumentError', ENOMEM: 'OutOfMemoryError', EIO: 'FileError',
    EPOLICY: 'PolicyError', ENOPOLICY: 'NoPolicyError', ENOTASK: 'UnknownTaskError',
    EIDENTITY: 'IdentityError', EPARAM: 'ParamError', EJSON: 'JSONError', ELIMIT: 'LimitError',
    ESESSION: 'SessionEndedError', ENOTFOUND: 'NotFoundError', EDENIED: 'RefusedError',
    ECRYPTO: 'CryptoError', ETOKEN: 'TokenError', ESIGNATURE: 'SignatureError',
    EEXPIRED: 'ExpiredError', EAUDIENCE: 'AudienceError', EPERM: 'FileError', EEXIST: 'FileError',
    EPROVIDER: 'ProviderError', ETAMPER: 'TamperError', EALGORITHM: 'AlgorithmError',
    EKEYID: 'KeyIdError', ETOKENTYPE: 'TokenTypeError',
};

test('every code has its class, and keeps its code and errno', () => {
    for (const [code, errno] of Object.entries(az.CODES)) {
        if (code === 'OK') continue;
        const e = errorFor(errno);
        const Cls = az[FAMILY[code]];
        assert.ok(Cls, code);
        assert.ok(e instanceof Cls && e instanceof az.AgentAuthzError && e instanceof Error, code);
        assert.equal(e.name, FAMILY[code]);
        assert.equal(e.code, code);
        assert.equal(e.errno, errno);
        assert.equal(e.message, az.strerror(errno));
    }
    for (const sub of ['UnknownTaskError', 'IdentityError', 'ParamError']) {
        assert.ok(az[sub].prototype instanceof az.SessionOpenError, sub);
    }
    for (const sub of ['SignatureError', 'ExpiredError', 'AudienceError', 'AlgorithmError',
        'KeyIdError', 'TokenTypeError']) {
        assert.ok(az[sub].prototype instanceof az.TokenError, sub);
    }
    const unknown = errorFor(-999, 'odd');
    assert.equal(unknown.constructor, az.AgentAuthzError);
    assert.equal(unknown.code, 'EUNKNOWN');
});

test('calls throw the subclass of their code', () => {
    const { engine } = engineWithPolicy();
    try {
        assert.throws(() => engine.session('agent/1', 'nope'), az.UnknownTaskError);
        assert.throws(() => engine.session('stranger', 'work'), az.IdentityError);
        assert.throws(() => engine.session('agent/1', 'pay'), (e) => e instanceof az.ParamError &&
            e instanceof az.SessionOpenError);
        const s = engine.session('agent/1', 'work');
        assert.throws(() => s.lease(s.check({ tool: 'db.query' }), 'nope'), az.NotFoundError);
        assert.throws(() => s.lease(s.check({ tool: 'db.query', args: { sql: 'DROP' } }), 'db'),
            az.RefusedError);
        s.close();
        assert.throws(() => s.approve({ tool: 'x' }), az.SessionEndedError);
        assert.throws(() => new az.Engine().session('a', 'b'), az.NoPolicyError);
        assert.throws(() => az.verifyToken('azpk1.x', 'a.b.c'), az.CryptoError);
    } finally {
        engine.close();
    }
    assert.throws(() => engine.sweep(), az.InvalidArgumentError);
});
