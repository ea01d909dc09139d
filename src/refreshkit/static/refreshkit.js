// refreshkit.js: the browser side of refreshkit's cookie mode. No dependencies, no build step.
// The access token lives in this module's memory only; the refresh token stays in its HttpOnly
// cookie. One refresh per expiry for the whole browser profile: a Web Lock around the refresh,
// a BroadcastChannel that hands the new access token to every tab.

/** Parse a WWW-Authenticate Bearer challenge's parameters (RFC 6750 §3); null if not Bearer. */
export function parseBearerChallenge(header) {
  if (!header) return null;
  const match = /(?:^|,)\s*Bearer\b(.*)$/i.exec(header);
  if (!match) return null;
  const params = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  let m;
  while ((m = re.exec(match[1])) !== null) {
    params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3];
  }
  return params;
}

/** True when a 401's challenge says the access token itself was refused (expired, revoked). */
export function isInvalidToken(header) {
  const params = parseBearerChallenge(header);
  return params !== null && params.error === "invalid_token";
}

/** One cookie's value from a `document.cookie` string, or null. */
export function readCookie(cookieString, name) {
  for (const part of (cookieString || "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}

/** The CSRF cookie names refreshkit may send, strongest prefix first (plain HTTP: bare). */
export const CSRF_COOKIES = ["__Host-refresh_csrf", "__Secure-refresh_csrf", "refresh_csrf"];

/** The CSRF header's value: the double-submit cookie, or "1" (enough for `header` mode). */
export function csrfValue(cookieString, names) {
  for (const name of names) {
    const value = readCookie(cookieString, name);
    if (value) return value;
  }
  return "1";
}

/** Retry-After (seconds or an HTTP date) in milliseconds from `now`, or null. */
export function retryAfterMs(header, now) {
  if (header == null || header === "") return null;
  const text = String(header).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, when - now);
}

/** Backoff before refresh attempt `attempt` (1, 2, ...) after an outage: doubling from
 * `base` up to `max`, and never sooner than the server's Retry-After. */
export function backoffMs(attempt, retryAfter, base = 1000, max = 60000) {
  const doubling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.max(doubling, retryAfter ?? 0);
}

/** When a token received at `receivedAt` with `expiresIn` seconds should be refreshed:
 * `ahead` seconds before it expires, but never earlier than halfway through its life. */
export function refreshAt(receivedAt, expiresIn, ahead) {
  const life = expiresIn * 1000;
  return receivedAt + life - Math.min(ahead * 1000, life / 2);
}

/** A refresh was refused (400/401: invalid_grant, no cookie...) rather than not answered. */
export function isRefusal(status) {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Raised by `fetch` and `token` while the refresh endpoint is unreachable (nothing is lost). */
export class RefreshUnavailableError extends Error {
  constructor(retryAfter, cause) {
    super(`refresh unavailable, retry in ${Math.ceil(retryAfter / 1000)}s`);
    this.name = "RefreshUnavailableError";
    this.retryAfter = retryAfter;
    this.cause = cause;
  }
}

const sameOrigin = (a, b) => new URL(a).origin === new URL(b).origin;

class RefreshKitClient extends EventTarget {
  constructor(options = {}) {
    super();
    const base = globalThis.location ? globalThis.location.href : "http://localhost/";
    this.refreshUrl = new URL(options.refreshUrl || "/token/refresh", base).href;
    this.logoutUrl = new URL(options.logoutUrl || "/logout", base).href;
    this.csrfCookies = options.csrfCookie ? [options.csrfCookie] : CSRF_COOKIES;
    this.csrfHeader = options.csrfHeader || "X-CSRF-Token";
    this.credentials = options.credentials || "same-origin";
    this.clientId = options.clientId || null;
    this.refreshAhead = options.refreshAhead ?? 30;
    this.peerTimeout = options.peerTimeout ?? 150;
    this.apiOrigins = new Set(
      [base, this.refreshUrl, ...(options.apiOrigins || [])].map((u) => new URL(u, base).origin)
    );
    this._fetch = options.fetch || globalThis.fetch.bind(globalThis);
    this._now = options.now || (() => Date.now());
    this._locks = options.locks === undefined ? globalThis.navigator?.locks : options.locks;
    this.name = "refreshkit:" + this.refreshUrl;
    this._access = null; // {token, expiresAt, refreshAt}
    this._signedOut = false;
    this._signedOutAt = -Infinity;
    this._inflight = null;
    this._outage = { attempt: 0, until: 0 };
    this._waiters = new Set();
    this._peers = false;
    this._id = Math.random();
    this._claims = new Map(); // the fallback's claimants: id -> when heard
    for (const [event, key] of [["signedout", "onSignedOut"], ["outage", "onOutage"],
      ["refreshed", "onRefreshed"]]) {
      if (options[key]) this.addEventListener(event, (e) => options[key](e.detail));
    }
    const Channel = options.BroadcastChannel ?? globalThis.BroadcastChannel;
    this._channel = Channel ? new Channel(this.name) : null;
    if (this._channel) {
      this._channel.onmessage = (event) => this._receive(event.data);
      this._post({ type: "hello" });
    }
  }

  /** Whether the client holds an access token (signed in, as far as this tab knows). */
  get signedIn() {
    return this._access !== null;
  }

  /** Adopt the tokens of a login (or refresh) response body; every tab gets them. */
  setTokens(body) {
    if (!body || typeof body.access_token !== "string") {
      throw new TypeError("setTokens expects a token response body with an access_token");
    }
    this._adopt(this._fromBody(body), true);
  }

  /** A valid access token (refreshing if due), or null when signed out. */
  async token() {
    return this._token(null);
  }

  /** `fetch` with the access token; after a 401 invalid_token, one refresh and one retry. */
  async fetch(input, init) {
    const request = new Request(input, init);
    if (!this._authorizes(request.url)) return this._fetch(request);
    const token = await this._token(null);
    const response = await this._send(request.clone(), token);
    if (response.status !== 401 || token === null) return response;
    if (!isInvalidToken(response.headers.get("WWW-Authenticate"))) return response;
    const fresh = await this._token(token);
    if (fresh === null || fresh === token) return response;
    return this._send(request, fresh);
  }

  /** End the session on the server, forget the token, and sign every tab out. */
  async logout() {
    try {
      await this.fetch(this.logoutUrl, { method: "POST", credentials: this.credentials });
    } catch {
      // signed out locally all the same; the cookie is cleared by the server when it answers
    } finally {
      this._signOut("logout", true);
    }
  }

  /** Stop listening to the other tabs. */
  close() {
    if (this._channel) this._channel.close();
    this._channel = null;
  }

  // ------------------------------------------------------------------ internals

  _authorizes(url) {
    return this.apiOrigins.has(new URL(url).origin);
  }

  _send(request, token) {
    if (token === null) return this._fetch(request);
    const headers = new Headers(request.headers);
    headers.set("Authorization", "Bearer " + token);
    return this._fetch(new Request(request, { headers }));
  }

  _fromBody(body) {
    const now = this._now();
    const expiresIn = Number(body.expires_in ?? 300);
    return {
      token: body.access_token,
      receivedAt: now,
      expiresAt: now + expiresIn * 1000,
      refreshAt: refreshAt(now, expiresIn, this.refreshAhead),
    };
  }

  _fresh(access, rejected) {
    return access !== null && access.token !== rejected && this._now() < access.refreshAt;
  }

  _usable(access, rejected) {
    return access !== null && access.token !== rejected && this._now() < access.expiresAt;
  }

  async _token(rejected) {
    if (this._signedOut && this._access === null) return null;
    if (this._fresh(this._access, rejected)) return this._access.token;
    const now = this._now();
    if (now < this._outage.until) {
      if (this._usable(this._access, rejected)) return this._access.token;
      throw new RefreshUnavailableError(this._outage.until - now);
    }
    if (!this._inflight) {
      this._inflight = this._coordinated(rejected).finally(() => {
        this._inflight = null;
      });
    }
    try {
      return await this._inflight;
    } catch (error) {
      // due but not yet expired: the current token still serves during an outage
      if (error instanceof RefreshUnavailableError && this._usable(this._access, rejected)) {
        return this._access.token;
      }
      throw error;
    }
  }

  _coordinated(rejected) {
    const run = async () => {
      if (this._fresh(this._access, rejected)) return this._access.token;
      if (this._signedOut && this._access === null) return null;
      const fromPeer = await this._askPeers(rejected);
      if (fromPeer !== null) return fromPeer;
      return this._refresh();
    };
    // Without Web Locks: one refresh per tab at a time, and a claim over the channel so that
    // racing tabs let one of them refresh; those that still race are covered by the server's
    // retry window (a repeat within it gets the same successor, nobody signs out).
    return this._locks ? this._locks.request(this.name, run) : this._claimed(run, rejected);
  }

  /** The fallback's election: claim, wait peerTimeout; the lowest claimant refreshes. */
  async _claimed(run, rejected) {
    if (!this._channel || !this._peers) return run();
    const since = this._now();
    this._post({ type: "claim", id: this._id });
    await new Promise((resolve) => setTimeout(resolve, this.peerTimeout));
    const recent = since - this.peerTimeout;
    const beaten = [...this._claims].some(([id, at]) => id < this._id && at >= recent);
    if (beaten && !this._fresh(this._access, rejected)) {
      const token = await this._awaitToken(rejected, 10 * this.peerTimeout);
      if (token !== null) return token;
    }
    return run();
  }

  _awaitToken(rejected, timeout) {
    return new Promise((resolve) => {
      const waiter = (access) => {
        if (!this._fresh(access, rejected)) return;
        this._waiters.delete(waiter);
        clearTimeout(timer);
        resolve(access.token);
      };
      const timer = setTimeout(() => {
        this._waiters.delete(waiter);
        resolve(null);
      }, timeout);
      this._waiters.add(waiter);
    });
  }

  /** Under the lock: a tab that refreshed just before may not have been heard yet. Ask. */
  _askPeers(rejected) {
    if (!this._channel || !this._peers) return Promise.resolve(null);
    const answer = this._awaitToken(rejected, this.peerTimeout);
    this._post({ type: "ask" });
    return answer;
  }

  async _refresh() {
    const headers = { "Content-Type": "application/x-www-form-urlencoded" };
    headers[this.csrfHeader] = csrfValue(globalThis.document?.cookie, this.csrfCookies);
    const body = new URLSearchParams({ grant_type: "refresh_token" });
    if (this.clientId) body.set("client_id", this.clientId);
    const send = () => this._fetch(this.refreshUrl, {
      method: "POST", credentials: this.credentials, headers, body, cache: "no-store",
    });
    let response;
    try {
      response = await send();
    } catch {
      // The reply may be what was lost (the server rotated, we never heard): ask again at
      // once; within the server's retry_window the same successor comes back.
      try {
        response = await send();
      } catch (error) {
        throw this._unavailable(null, error, null);
      }
    }
    if (response.ok) {
      const access = this._fromBody(await response.json());
      this._outage = { attempt: 0, until: 0 };
      this._adopt(access, true);
      this._emit("refreshed", { expiresAt: access.expiresAt });
      return access.token;
    }
    if (isRefusal(response.status)) {
      const error = await response.json().catch(() => ({}));
      this._signOut(error.error || "invalid_grant", true);
      return null;
    }
    throw this._unavailable(response.headers.get("Retry-After"), null, response.status);
  }

  _unavailable(retryAfterHeader, cause, status) {
    const now = this._now();
    const attempt = this._outage.attempt + 1;
    const delay = backoffMs(attempt, retryAfterMs(retryAfterHeader, now));
    this._outage = { attempt, until: now + delay };
    this._emit("outage", { status, retryAfter: delay, attempt });
    return new RefreshUnavailableError(delay, cause);
  }

  _adopt(access, broadcast) {
    // A peer's token from before a sign-out (messages of different tabs may cross) is stale.
    if (!broadcast && access.receivedAt <= this._signedOutAt) return;
    const current = this._access;
    if (current === null || access.expiresAt >= current.expiresAt || this._signedOut) {
      this._access = access;
    }
    this._signedOut = false;
    this._emit("token", { expiresAt: this._access.expiresAt });
    for (const waiter of [...this._waiters]) waiter(access);
    if (broadcast) this._post({ type: "token", access });
  }

  _signOut(reason, broadcast) {
    const wasSignedOut = this._signedOut;
    this._signedOutAt = this._now();
    this._access = null;
    this._signedOut = true;
    if (broadcast) this._post({ type: "signedout", reason });
    if (!wasSignedOut) this._emit("signedout", { reason });
  }

  _receive(message) {
    this._peers = true;
    if (message.type === "token") this._adopt(message.access, false);
    else if (message.type === "signedout") this._signOut(message.reason, false);
    else if (message.type === "claim") this._claims.set(message.id, this._now());
    else if (message.type === "hello" || message.type === "ask") {
      if (this._usable(this._access, null)) this._post({ type: "token", access: this._access });
      else if (message.type === "hello") this._post({ type: "here" });
    }
  }

  _post(message) {
    if (this._channel) this._channel.postMessage(message);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** Create the client: see docs/browser.rst for every option. */
export function createRefreshKit(options) {
  return new RefreshKitClient(options);
}
