// The pure parts of refreshkit.js, under node's own test runner: node --test tests/js/
import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";

// REFRESHKIT_JS (a file: URL) points at the installed package's copy; pytest sets it.
const here = new URL("../../src/refreshkit/static/refreshkit.js", import.meta.url);
const {
  CSRF_COOKIES,
  backoffMs,
  createRefreshKit,
  csrfValue,
  isInvalidToken,
  isRefusal,
  parseBearerChallenge,
  readCookie,
  refreshAt,
  retryAfterMs,
} = await import(process.env.REFRESHKIT_JS || here.href);

test("a Bearer challenge's parameters are parsed, quoted or not", () => {
  const header = 'Bearer realm="refreshkit", error="invalid_token", error_description="expired \\"now\\""';
  assert.deepEqual(parseBearerChallenge(header), {
    realm: "refreshkit",
    error: "invalid_token",
    error_description: 'expired "now"',
  });
  assert.deepEqual(parseBearerChallenge("Bearer error=invalid_token"), { error: "invalid_token" });
  assert.deepEqual(parseBearerChallenge('Basic realm="x", Bearer realm="y"'), { realm: "y" });
  assert.equal(parseBearerChallenge('Basic realm="x"'), null);
  assert.equal(parseBearerChallenge(null), null);
});

test("only error=invalid_token asks for a refresh", () => {
  assert.equal(isInvalidToken('Bearer realm="r", error="invalid_token"'), true);
  assert.equal(isInvalidToken('Bearer realm="r"'), false); // no token was sent
  assert.equal(isInvalidToken('Bearer error="insufficient_scope"'), false);
  assert.equal(isInvalidToken(null), false);
});

test("a cookie is read by its exact name", () => {
  const cookies = "a=1; __Host-refresh_csrf=abc=; refresh_csrf2=no";
  assert.equal(readCookie(cookies, "__Host-refresh_csrf"), "abc=");
  assert.equal(readCookie(cookies, "refresh_csrf"), null);
  assert.equal(readCookie("", "a"), null);
  assert.equal(readCookie(undefined, "a"), null);
});

test("the CSRF header echoes the strongest cookie present, else a constant for header mode", () => {
  assert.equal(csrfValue("refresh_csrf=plain; __Host-refresh_csrf=host", CSRF_COOKIES), "host");
  assert.equal(csrfValue("refresh_csrf=plain", CSRF_COOKIES), "plain");
  assert.equal(csrfValue("other=1", CSRF_COOKIES), "1");
  assert.equal(csrfValue("mine=x", ["mine"]), "x");
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.parse("2030-01-01T00:00:00Z");
  assert.equal(retryAfterMs("7", now), 7000);
  assert.equal(retryAfterMs("Tue, 01 Jan 2030 00:00:30 GMT", now), 30000);
  assert.equal(retryAfterMs("Mon, 31 Dec 2029 00:00:00 GMT", now), 0);
  assert.equal(retryAfterMs(null, now), null);
  assert.equal(retryAfterMs("soon", now), null);
});

test("the backoff doubles, is capped, and never undercuts Retry-After", () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffMs(n, null)), [1000, 2000, 4000, 8000]);
  assert.equal(backoffMs(20, null), 60000);
  assert.equal(backoffMs(1, 7000), 7000);
  assert.equal(backoffMs(5, 7000), 16000);
});

test("a token is due refreshAhead seconds before expiry, never before half its life", () => {
  assert.equal(refreshAt(0, 300, 30), 270000);
  assert.equal(refreshAt(1000, 40, 30), 21000);
  assert.equal(refreshAt(0, 300, 0), 300000);
});

test("4xx replies but 408 and 429 are refusals; 5xx are outages", () => {
  assert.equal(isRefusal(400), true);
  assert.equal(isRefusal(401), true);
  assert.equal(isRefusal(429), false);
  assert.equal(isRefusal(408), false);
  assert.equal(isRefusal(503), false);
});

test("a login in one tab hands the access token to another over BroadcastChannel", async () => {
  const options = { refreshUrl: "http://127.0.0.1/token/refresh", locks: null };
  const first = createRefreshKit(options);
  const second = createRefreshKit(options);
  try {
    assert.equal(second.signedIn, false);
    const handed = once(second, "token");
    first.setTokens({ access_token: "rk-access", expires_in: 300 });
    await handed;
    assert.equal(second.signedIn, true);
    assert.equal(await second.token(), "rk-access"); // fresh: no refresh needed
  } finally {
    first.close();
    second.close();
  }
});

test("setTokens refuses a body without an access token (a failed login's, say)", () => {
  const kit = createRefreshKit({ refreshUrl: "http://127.0.0.1/token/refresh", locks: null });
  try {
    assert.throws(() => kit.setTokens({ error: "wrong username or password" }), TypeError);
    assert.equal(kit.signedIn, false);
  } finally {
    kit.close();
  }
});
