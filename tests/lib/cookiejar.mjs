// cookiejar.mjs - the cookies a test's HTTP client keeps between requests,
// as a browser would: a Map of name to value, filled from an answer's
// Set-Cookie fields (an empty value or Max-Age=0 removes the cookie).
// Paths, domains and expiry dates are not modelled: every test talks to
// one key server at its root.
export class CookieJar extends Map {
  // The Cookie field's value for a request ('' when the jar is empty).
  header() {
    return [...this].map(([n, v]) => `${n}=${v}`).join('; ');
  }

  // {Cookie: ...} to spread into a request's headers, or {} when empty.
  headers() {
    return this.size ? { Cookie: this.header() } : {};
  }

  // Keep the cookies that the answer res (a fetch Response) sets; returns
  // its Set-Cookie fields.
  take(res) {
    const fields = res.headers.getSetCookie();
    for (const c of fields) {
      const m = /^([^=;]+)=([^;]*)/.exec(c);
      if (!m) continue;
      if (m[2] === '' || /;\s*Max-Age=0(;|$)/i.test(c)) this.delete(m[1]);
      else this.set(m[1], m[2]);
    }
    return fields;
  }
}
