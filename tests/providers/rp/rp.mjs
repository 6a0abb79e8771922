// An independent OpenID Connect relying party (panva's openid-client, npm) for the portal's tests.
//
//   node rp.mjs
//
// It prints "ready" once openid-client is loaded, then reads one JSON command per line on stdin and
// writes one JSON answer per line on stdout, in order. A command is {"command": NAME, ...arguments};
// an answer is the command's result, or {"error": message, "name", "code", ...} when openid-client
// (or this file) refused: "name" is the error's class (ClientError, ResponseBodyError,
// AuthorizationResponseError, WWWAuthenticateChallengeError, TypeError, ...), "code" its code
// (OAUTH_INVALID_RESPONSE, OAUTH_RESPONSE_BODY_ERROR, ...); "oauth_error", "error_description" and
// "status" carry an OAuth error the server answered; "cause" the check that failed underneath. A
// refused command never ends the process.
//
//   discover {issuer, client_id, client_secret|null, redirect_uri, token_endpoint_auth_method?}
//        → the server's metadata. Auth method: client_secret_basic (the default with a secret),
//          client_secret_post, or none (the default without). An http:// issuer is allowed.
//   authorization_url {scope, prompt?, max_age?, login_hint?, extra?}
//        → {url, state, nonce, code_verifier}: PKCE with S256 always, a nonce when the scope has
//          openid. Kept for the next callback (the last authorization only, as a browser session).
//   callback {url, state?, nonce?, code_verifier?, max_age?}
//        → {access_token, refresh_token, id_token, expires_in, scope, token_type, claims}: the
//          authorization response checked (state, RFC 9207's iss, an error), the code exchanged
//          with the verifier, the ID token checked (signature against the jwks_uri, alg, iss, aud,
//          azp, exp, iat, sub, nonce, auth_time against max_age; at_hash when present). The
//          authorization stays kept after a callback, so a replayed URL reaches the server again.
//   userinfo {access_token, expected_sub}       → the claims (sub must be expected_sub)
//   refresh {refresh_token}                     → the new token set (and its ID token's claims)
//   introspect {token, token_type_hint?}        → the introspection response
//   revoke {token, token_type_hint?}            → {revoked: true}
//   device_authorization {scope}
//        → {device_code, user_code, verification_uri, verification_uri_complete, interval, expires_in}
//   device_poll {device_code?, wait?}
//        → without wait, one token request: the token set, or {oauth_error, error_description} when
//          the server answers authorization_pending, slow_down, expired_token or access_denied.
//          With wait (seconds): openid-client's own polling loop until tokens or another error.
//   end_session_url {id_token_hint, post_logout_redirect_uri, state} → {url}

import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';

import * as client from 'openid-client';

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const DEVICE_ANSWERS = new Set(['authorization_pending', 'slow_down', 'expired_token', 'access_denied']);

let config = null; // client.Configuration, after discover
let redirectUri = null;
let pending = null; // the last authorization: {state, nonce, code_verifier, max_age, scope}
let device = null; // the last device authorization response

class RelyingPartyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'RelyingPartyError';
    this.code = code;
  }
}

function configured() {
  if (!config) throw new RelyingPartyError('NOT_DISCOVERED', 'discover first');
  return config;
}

const AUTH_METHODS = {
  client_secret_basic: (secret) => client.ClientSecretBasic(secret),
  client_secret_post: (secret) => client.ClientSecretPost(secret),
  none: () => client.None(),
};

function b64u(buffer) {
  return Buffer.from(buffer).toString('base64url');
}

// OpenID Connect Core 3.1.3.8: at_hash is the left half of the hash of the access token, the hash
// being the one of the ID token's alg (SHA-256 for RS256/PS256/ES256, and so on).
function checkAtHash(idToken, accessToken, claims) {
  if (claims.at_hash === undefined) return;
  const { alg } = JSON.parse(Buffer.from(idToken.split('.')[0], 'base64url').toString('utf8'));
  const bits = { 256: 'sha256', 384: 'sha384', 512: 'sha512' }[alg.slice(-3)] || (alg === 'EdDSA' || alg === 'Ed25519' ? 'sha512' : null);
  if (!bits) throw new RelyingPartyError('AT_HASH_UNSUPPORTED_ALG', `no at_hash rule for alg ${alg}`);
  const digest = createHash(bits).update(accessToken, 'ascii').digest();
  const expected = b64u(digest.subarray(0, digest.length / 2));
  if (claims.at_hash !== expected) {
    throw new RelyingPartyError('AT_HASH_MISMATCH', `ID token at_hash ${claims.at_hash} does not match the access token (${expected})`);
  }
}

function tokenSet(tokens) {
  const out = {};
  for (const [key, value] of Object.entries(tokens)) {
    if (typeof value !== 'function') out[key] = value;
  }
  for (const key of ['access_token', 'refresh_token', 'id_token', 'expires_in', 'scope', 'token_type']) {
    if (!(key in out)) out[key] = null;
  }
  const claims = tokens.claims?.();
  out.claims = claims ? { ...claims } : null;
  if (claims && tokens.id_token) checkAtHash(tokens.id_token, tokens.access_token, claims);
  return out;
}

const commands = {
  async discover({ issuer, client_id: clientId, client_secret: secret = null, redirect_uri: redirect,
    token_endpoint_auth_method: method = null }) {
    const authMethod = method || (secret ? 'client_secret_basic' : 'none');
    if (!AUTH_METHODS[authMethod]) {
      throw new RelyingPartyError('UNSUPPORTED_AUTH_METHOD', `token_endpoint_auth_method ${authMethod} is not supported here`);
    }
    const url = new URL(issuer);
    const metadata = {
      redirect_uris: [redirect],
      response_types: ['code'],
      token_endpoint_auth_method: authMethod,
      ...(secret ? { client_secret: secret } : {}),
    };
    config = await client.discovery(url, clientId, metadata, AUTH_METHODS[authMethod](secret ?? undefined), {
      execute: url.protocol === 'http:' ? [client.allowInsecureRequests] : [],
      timeout: 10,
    });
    // ID tokens from the token endpoint have their signatures checked against the jwks_uri too.
    client.enableNonRepudiationChecks(config);
    redirectUri = redirect;
    pending = null;
    device = null;
    return config.serverMetadata();
  },

  async authorization_url({ scope, prompt, max_age: maxAge, login_hint: loginHint, extra = {} }) {
    configured();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const openid = String(scope).split(/\s+/).includes('openid');
    const nonce = openid ? client.randomNonce() : null;
    const parameters = {
      redirect_uri: redirectUri,
      response_type: 'code',
      scope,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...(nonce ? { nonce } : {}),
      ...(prompt ? { prompt } : {}),
      ...(maxAge !== undefined && maxAge !== null ? { max_age: String(maxAge) } : {}),
      ...(loginHint ? { login_hint: loginHint } : {}),
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])),
    };
    const url = client.buildAuthorizationUrl(config, parameters);
    pending = { state, nonce, code_verifier: codeVerifier, max_age: maxAge ?? null, openid };
    return { url: url.href, state, nonce, code_verifier: codeVerifier };
  },

  async callback({ url, ...overrides }) {
    configured();
    if (!pending && !overrides.code_verifier) {
      throw new RelyingPartyError('NO_AUTHORIZATION', 'no authorization_url was made for this callback');
    }
    const checks = { ...pending, ...overrides };
    const tokens = await client.authorizationCodeGrant(config, new URL(url), {
      pkceCodeVerifier: checks.code_verifier,
      expectedState: checks.state ?? undefined,
      expectedNonce: checks.nonce ?? undefined,
      maxAge: checks.max_age ?? undefined,
      idTokenExpected: Boolean(checks.openid || checks.nonce),
    });
    return tokenSet(tokens);
  },

  async userinfo({ access_token: accessToken, expected_sub: expectedSub }) {
    const claims = await client.fetchUserInfo(configured(), accessToken, expectedSub ?? client.skipSubjectCheck);
    return { ...claims };
  },

  async refresh({ refresh_token: refreshToken }) {
    return tokenSet(await client.refreshTokenGrant(configured(), refreshToken));
  },

  async introspect({ token, token_type_hint: hint }) {
    return { ...(await client.tokenIntrospection(configured(), token, hint ? { token_type_hint: hint } : {})) };
  },

  async revoke({ token, token_type_hint: hint }) {
    await client.tokenRevocation(configured(), token, hint ? { token_type_hint: hint } : {});
    return { revoked: true };
  },

  async device_authorization({ scope }) {
    device = await client.initiateDeviceAuthorization(configured(), { scope });
    const { device_code, user_code, verification_uri, verification_uri_complete, interval, expires_in } = device;
    return {
      device_code, user_code, verification_uri,
      verification_uri_complete: verification_uri_complete ?? null,
      interval: interval ?? 5,
      expires_in,
    };
  },

  async device_poll({ device_code: deviceCode, wait }) {
    configured();
    const code = deviceCode || device?.device_code;
    if (!code) throw new RelyingPartyError('NO_DEVICE_AUTHORIZATION', 'no device_authorization was made');
    if (wait) {
      // openid-client's loop: waits the interval before each request, slows down on slow_down.
      const response = device?.device_code === code ? device : { device_code: code, expires_in: wait };
      const tokens = await client.pollDeviceAuthorizationGrant(config, response, undefined, {
        signal: AbortSignal.timeout(wait * 1000),
      });
      return tokenSet(tokens);
    }
    // One token request: the same request and response checks as in pollDeviceAuthorizationGrant,
    // which would wait and ask again itself.
    try {
      return tokenSet(await client.genericGrantRequest(config, DEVICE_CODE, { device_code: code }));
    } catch (error) {
      if (error instanceof client.ResponseBodyError && DEVICE_ANSWERS.has(error.error)) {
        return { oauth_error: error.error, error_description: error.error_description ?? null };
      }
      throw error;
    }
  },

  async end_session_url({ id_token_hint: idTokenHint, post_logout_redirect_uri: redirect, state }) {
    const parameters = {
      ...(idTokenHint ? { id_token_hint: idTokenHint } : {}),
      ...(redirect ? { post_logout_redirect_uri: redirect } : {}),
      ...(state ? { state } : {}),
    };
    return { url: client.buildEndSessionUrl(configured(), parameters).href };
  },
};

function plain(value, depth = 0) {
  if (value === null || value === undefined) return null;
  if (value instanceof URL) return value.href;
  if (value instanceof URLSearchParams) return Object.fromEntries(value);
  if (value instanceof Error) return describe(value, depth + 1);
  if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1));
  if (typeof value === 'object' && depth < 4) {
    if (typeof value.headers === 'object' && typeof value.status === 'number') return { status: value.status };
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v, depth + 1)]));
  }
  return typeof value === 'object' || typeof value === 'function' ? String(value) : value;
}

function describe(error, depth = 0) {
  if (!(error instanceof Error)) return { error: String(error), name: 'Error', code: null };
  const out = { error: error.message, name: error.name || error.constructor?.name || 'Error', code: error.code ?? null };
  if (error instanceof client.ResponseBodyError || error instanceof client.AuthorizationResponseError) {
    out.oauth_error = error.error ?? null;
    out.error_description = error.error_description ?? null;
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const parameters = error.cause?.[0]?.parameters || {};
    out.oauth_error = parameters.error ?? null;
    out.error_description = parameters.error_description ?? null;
  }
  if (typeof error.status === 'number') out.status = error.status;
  if (error.cause !== undefined && depth < 3 && !(error instanceof client.ResponseBodyError)) {
    out.cause = plain(error.cause, depth);
  }
  return out;
}

async function run(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    return describe(error);
  }
  const command = commands[request?.command];
  if (!command) return describe(new RelyingPartyError('UNKNOWN_COMMAND', `unknown command ${JSON.stringify(request?.command)}`));
  const { command: _, ...args } = request;
  try {
    return (await command(args)) ?? {};
  } catch (error) {
    return describe(error);
  }
}

process.on('uncaughtException', (error) => console.error('uncaught', error));
process.on('unhandledRejection', (error) => console.error('unhandled', error));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
lines.on('line', (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    let answer;
    try {
      answer = JSON.stringify(await run(line));
    } catch (error) {
      answer = JSON.stringify({ error: `the answer could not be written: ${error.message}`, name: error.name, code: null });
    }
    process.stdout.write(`${answer}\n`);
  });
});
lines.on('close', () => queue.then(() => process.exit(0)));
console.log('ready');
