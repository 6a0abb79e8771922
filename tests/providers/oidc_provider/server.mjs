// A real OpenID Connect provider (panva's oidc-provider) on loopback, for the portal's tests.
//
//   node server.mjs CONFIG.json        (or OIDC_PROVIDER_CONFIG=CONFIG.json node server.mjs)
//
// CONFIG: {"port": 5123, "issuer": "http://127.0.0.1:5123",
//          "clients": [{"client_id", "client_secret" (absent for a public client), "redirect_uris",
//                       "token_endpoint_auth_method", "grant_types" (authorization_code unless
//                       given; add refresh_token for refresh tokens),
//                       "post_logout_redirect_uris"}]}
//
// Every client must use PKCE with S256 (a relying party that skips it is refused). Scopes: openid,
// email, profile, offline_access; ID tokens are signed with RS256 by a key made at start. A refresh
// token is issued only to a client with the refresh_token grant that asked for offline_access (with
// prompt=consent, as OpenID Connect requires). Token introspection (/token/introspection) and
// revocation (/token/revocation) are on, RP-initiated logout (/session/end), and the device flow
// (/device/auth; a client with the urn:ietf:params:oauth:grant-type:device_code grant; /device is
// oidc-provider's own pair of forms, then the interaction below). There is no sign-in page:
// a test says beforehand who signs in, and GET /interaction/:uid signs that person in, grants what
// was asked and sends the browser on, so the whole flow can be driven by plain HTTP requests.
//
//   POST /_test/person {"sub", "email", "email_verified", "given_name", "family_name"}
//        who signs in from now on (kept as an account, so the ID token and userinfo carry the claims)
//   POST /_test/deny   the next sign-in ends with error=access_denied (the person cancelled)
//   POST /_test/reset  nobody signs in and no cancel is pending
//
// It prints "ready <port>" once it listens.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const configPath = process.argv[2] || process.env.OIDC_PROVIDER_CONFIG;
if (!configPath) {
  console.error('usage: node server.mjs CONFIG.json (or set OIDC_PROVIDER_CONFIG)');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));

const accounts = new Map(); // sub → claims
let person = null; // the sub of who signs in next
let denyNext = false;

function claimsOf(sub) {
  const { email, email_verified: emailVerified, given_name: givenName, family_name: familyName } = accounts.get(sub);
  const name = [givenName, familyName].filter(Boolean).join(' ');
  return {
    sub,
    email,
    email_verified: emailVerified,
    ...(givenName ? { given_name: givenName } : {}),
    ...(familyName ? { family_name: familyName } : {}),
    ...(name ? { name } : {}),
  };
}

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    ...(client.client_secret ? { client_secret: client.client_secret } : {}),
    redirect_uris: client.redirect_uris,
    token_endpoint_auth_method: client.token_endpoint_auth_method
      || (client.client_secret ? 'client_secret_basic' : 'none'),
    grant_types: client.grant_types || ['authorization_code'],
    response_types: ['code'],
    post_logout_redirect_uris: client.post_logout_redirect_uris || [],
    id_token_signed_response_alg: 'RS256',
  })),
  responseTypes: ['code'],
  pkce: { required: () => true }, // for every client; oidc-provider knows S256 only
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name', 'name'],
  },
  // The ID token carries the scopes' claims too (as Google's do), not only the userinfo endpoint.
  conformIdTokenClaims: false,
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  jwks: { keys: [{ ...signingKey, kid: 'test-rs256', alg: 'RS256', use: 'sig' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    deviceFlow: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // oidc-provider's own rule, said here: the refresh_token grant and the offline_access scope.
  issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access'),
  async findAccount(ctx, sub) {
    if (!accounts.has(sub)) return undefined;
    return { accountId: sub, claims: async () => claimsOf(sub) };
  },
  renderError(ctx, out) {
    ctx.type = 'application/json';
    ctx.body = out;
  },
});

// What went wrong inside the provider goes to stderr, where the Python side keeps it (.log).
provider.on('server_error', (ctx, error) => console.error('server_error', error));

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (denyNext) {
    denyNext = false;
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  const accountId = details.prompt.name === 'login' ? person : details.session?.accountId;
  if (!accountId) {
    await provider.interactionFinished(req, res, {
      error: 'login_required', error_description: 'no person to sign in: POST /_test/person first',
    }, { mergeWithLastSubmission: false });
    return;
  }
  const clientId = details.params.client_id;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId });
  grant.addOIDCScope(String(details.params.scope || 'openid'));
  const grantId = await grant.save();
  const result = { consent: { grantId } };
  if (details.prompt.name === 'login') result.login = { accountId };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function testControl(req, res, path) {
  if (path === '/_test/person') {
    const body = await readJson(req);
    if (!body.sub || !body.email) {
      reply(res, 400, { error: 'sub and email are required' });
      return;
    }
    accounts.set(String(body.sub), {
      email: body.email,
      email_verified: body.email_verified ?? true,
      given_name: body.given_name ?? null,
      family_name: body.family_name ?? null,
    });
    person = String(body.sub);
    reply(res, 200, claimsOf(person));
    return;
  }
  if (path === '/_test/reset') {
    person = null;
    denyNext = false;
    reply(res, 200, { reset: true });
    return;
  }
  if (path === '/_test/deny') {
    denyNext = true;
    reply(res, 200, { deny_next: true });
    return;
  }
  reply(res, 404, { error: 'not_found' });
}

// Every authorization request starts without the provider's session, as in a private window, so
// it always comes to the interaction: the person the test set last signs in (or cancels), even when
// the same cookie jar signed someone else in before.
function forgetSession(req) {
  if (!req.headers.cookie) return;
  const kept = req.headers.cookie.split(';').map((c) => c.trim()).filter((c) => !c.startsWith('_session'));
  if (kept.length) req.headers.cookie = kept.join('; ');
  else delete req.headers.cookie;
}

const oidc = provider.callback();

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, config.issuer);
  let handled;
  if (req.method === 'POST' && pathname.startsWith('/_test/')) {
    handled = testControl(req, res, pathname);
  } else if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(pathname)) {
    handled = interaction(req, res);
  } else {
    if (pathname === '/auth' || pathname.startsWith('/auth/')) forgetSession(req);
    oidc(req, res);
    return;
  }
  handled.catch((error) => {
    console.error(error);
    if (!res.headersSent) reply(res, 400, { error: error.name, error_description: error.message });
    else res.end();
  });
});

server.listen(config.port, '127.0.0.1', () => {
  console.log(`ready ${server.address().port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
