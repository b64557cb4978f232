// The Express peer of benches/http/run.sh: GET /api/me reads `Authorization: Bearer`, runs
// jwt.verify (HS256, issuer and audience checked, exp by default), looks the jti up in a Set
// denylist and answers the user as JSON from an in-memory map seeded with the real /api/me body
// (BENCH_ME_JSON). GET /api/me-keyobject is the same with the secret given to jwt.verify as a
// crypto KeyObject: jsonwebtoken 9 first tries createPublicKey() on a string secret, which
// throws on every call, so a string secret costs far more than the HMAC itself.
// Usage: JWT_SECRET=... BENCH_ME_JSON=... node server.js PORT
'use strict';
const crypto = require('crypto');
const express = require('express');
const jwt = require('jsonwebtoken');

const port = Number(process.argv[2]);
const secret = process.env.JWT_SECRET;
const me = JSON.parse(process.env.BENCH_ME_JSON || 'null');
if (!port || !secret || !me) {
  console.error('usage: JWT_SECRET=... BENCH_ME_JSON=... node server.js PORT');
  process.exit(2);
}

const denylist = new Set();
const users = new Map([[me.id, me]]);
const secretKey = crypto.createSecretKey(Buffer.from(secret, 'utf8'));
const options = {algorithms: ['HS256'], issuer: 'doorward', audience: 'doorward'};

const meHandler = (key) => (req, res) => {
  const header = req.get('authorization') || '';
  if (!header.startsWith('Bearer ')) {
    return res.status(401).set('WWW-Authenticate', 'Bearer').json({error: 'invalid_token'});
  }
  let claims;
  try {
    claims = jwt.verify(header.slice(7), key, options);
  } catch (e) {
    return res.status(401).set('WWW-Authenticate', 'Bearer').json({error: 'invalid_token'});
  }
  if (denylist.has(claims.jti)) {
    return res.status(401).set('WWW-Authenticate', 'Bearer').json({error: 'invalid_token'});
  }
  const user = users.get(claims.sub);
  if (!user) return res.status(404).end();
  res.set('Cache-Control', 'no-store').json(user);
};

const app = express();
app.get('/api/me', meHandler(secret));
app.get('/api/me-keyobject', meHandler(secretKey));

app.listen(port, '127.0.0.1');
