// Type declarations for refreshkit.js (served at <url_prefix>/refreshkit.js by every adapter).

/** The JSON body of a login or refresh response (RFC 6749 §5.1, cookie mode). */
export interface TokenBody {
  access_token: string;
  token_type?: string;
  /** Lifetime of the access token in seconds. */
  expires_in?: number;
  scope?: string;
}

export interface SignedOutDetail {
  /** "logout", or the refusal's OAuth error code ("invalid_grant", "invalid_request", ...). */
  reason: string;
}

export interface OutageDetail {
  /** HTTP status of the refresh reply (503, 429, 5xx), or null after a network error. */
  status: number | null;
  /** Milliseconds before the next refresh attempt (never sooner than Retry-After). */
  retryAfter: number;
  /** Consecutive failed attempts. */
  attempt: number;
}

export interface RefreshedDetail {
  /** When the new access token expires (epoch milliseconds). */
  expiresAt: number;
}

export interface RefreshKitOptions {
  /** The refresh endpoint (default "/token/refresh"): `<url_prefix>/token/refresh`. */
  refreshUrl?: string;
  /** The logout endpoint (default "/logout"). */
  logoutUrl?: string;
  /** The double-submit CSRF cookie's name (default: __Host-refresh_csrf, __Secure-refresh_csrf, refresh_csrf). */
  csrfCookie?: string;
  /** The CSRF header (default "X-CSRF-Token", the adapters' csrf_header_name). */
  csrfHeader?: string;
  /** fetch credentials of the refresh and logout requests: "same-origin" (default) or "include" (API on another origin). */
  credentials?: RequestCredentials;
  /** A client_id to send with each refresh (default: none, the server's default_client). */
  clientId?: string;
  /** Seconds before expiry to refresh (default 30; at most half the token's lifetime). */
  refreshAhead?: number;
  /** Milliseconds to wait for another tab's fresh token before refreshing (default 150). */
  peerTimeout?: number;
  /** Origins (besides the page's and the refresh URL's) that get the Authorization header. */
  apiOrigins?: string[];
  onSignedOut?: (detail: SignedOutDetail) => void;
  onOutage?: (detail: OutageDetail) => void;
  onRefreshed?: (detail: RefreshedDetail) => void;
  /** The fetch implementation (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Web Locks (default navigator.locks; null: per-tab single flight only). */
  locks?: LockManager | null;
  /** BroadcastChannel constructor (default globalThis.BroadcastChannel; null: this tab alone). */
  BroadcastChannel?: typeof BroadcastChannel | null;
  /** The clock, epoch milliseconds (default Date.now). */
  now?: () => number;
}

export interface RefreshKitEventMap {
  signedout: CustomEvent<SignedOutDetail>;
  outage: CustomEvent<OutageDetail>;
  refreshed: CustomEvent<RefreshedDetail>;
  /** This tab holds a new access token (a login, its own refresh, or another tab's). */
  token: CustomEvent<RefreshedDetail>;
}

export interface RefreshKitClient extends EventTarget {
  /** Whether this tab holds an access token. */
  readonly signedIn: boolean;
  /** fetch with `Authorization: Bearer`; refreshes when due, and once after a 401 invalid_token, retrying once. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Adopt a login response's body; every tab gets the access token. */
  setTokens(body: TokenBody): void;
  /** A valid access token (refreshing if due), or null when signed out. */
  token(): Promise<string | null>;
  /** End the session on the server and sign every tab out. */
  logout(): Promise<void>;
  /** Stop listening to the other tabs. */
  close(): void;
  addEventListener<K extends keyof RefreshKitEventMap>(
    type: K,
    listener: (event: RefreshKitEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
}

/** Raised by fetch and token while the refresh endpoint is unreachable; nothing is discarded. */
export class RefreshUnavailableError extends Error {
  /** Milliseconds until the next attempt. */
  readonly retryAfter: number;
}

export function createRefreshKit(options?: RefreshKitOptions): RefreshKitClient;

export const CSRF_COOKIES: readonly string[];
export function parseBearerChallenge(header: string | null): Record<string, string> | null;
export function isInvalidToken(header: string | null): boolean;
export function readCookie(cookieString: string | undefined, name: string): string | null;
export function csrfValue(cookieString: string | undefined, names: readonly string[]): string;
export function retryAfterMs(header: string | null, now: number): number | null;
export function backoffMs(attempt: number, retryAfter: number | null, base?: number, max?: number): number;
export function refreshAt(receivedAt: number, expiresIn: number, ahead: number): number;
export function isRefusal(status: number): boolean;
