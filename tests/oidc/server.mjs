// A real OpenID Connect provider (npm `oidc-provider`) on loopback for
// scimgate's single sign-on tests (tests/api/sso.rs).
//
// Protocol with the test, one line each way:
//   1. it listens on 127.0.0.1 at a free port and prints `ISSUER <url>`;
//   2. it reads the redirect URI of the scimgate under test from stdin;
//   3. it registers the clients below with that redirect URI and prints
//      `READY`.
// It exits when stdin closes, so it never outlives the test.
//
// Accounts: any e-mail signs in, with no password. The account's `email` is
// the login itself; `email_verified` is true unless the login starts with
// `unverified`. Consent is implied for every client.

import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

import Provider from 'oidc-provider';

// Client ids and secrets the tests configure scimgate with.
const CLIENTS = ['scimgate-global', 'scimgate-acme', 'scimgate-beta'];
const secretOf = (clientId) => `${clientId}-secret`;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

let provider;
let issuer;

function loginPage(uid, hint) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test identity provider</title></head>
<body><main>
<h1>Test identity provider: sign in</h1>
<form method="post" action="${issuer}/interaction/${escape(uid)}">
  <label for="login">E-mail</label>
  <input id="login" name="login" type="email" value="${escape(hint ?? '')}">
  <button type="submit" name="action" value="login">Sign in</button>
  <button type="submit" name="action" value="cancel">Cancel</button>
</form>
</main></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(loginPage(details.uid, details.params.login_hint));
    return;
  }
  const form = await readForm(req);
  if (form.get('action') === 'cancel') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'The person cancelled the sign-in.',
    }, { mergeWithLastSubmission: false });
    return;
  }
  const login = (form.get('login') || '').trim();
  if (!login) {
    res.statusCode = 400;
    res.end(loginPage(details.uid, ''));
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: login } }, {
    mergeWithLastSubmission: false,
  });
}

const server = createServer((req, res) => {
  if (!provider) {
    res.statusCode = 503;
    res.end('not ready');
    return;
  }
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(`interaction failed: ${err.message}`);
    });
    return;
  }
  provider.callback()(req, res);
});

server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(`ISSUER ${issuer}`);
});

const lines = createInterface({ input: process.stdin });
lines.once('line', (redirectUri) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  provider = new Provider(issuer, {
    clients: CLIENTS.map((clientId) => ({
      client_id: clientId,
      client_secret: secretOf(clientId),
      redirect_uris: [redirectUri.trim()],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    })),
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), use: 'sig', kid: 'test' }] },
    cookies: { keys: ['scimgate-test-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interactionRecord) => `/interaction/${interactionRecord.uid}` },
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({
        sub: id,
        email: id,
        email_verified: !id.startsWith('unverified'),
      }),
    }),
    // Consent is implied: every client is first-party here.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        return ctx.oidc.provider.Grant.find(grantId);
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email');
      await grant.save();
      return grant;
    },
  });
  console.log('READY');
});
lines.on('close', () => process.exit(0));
