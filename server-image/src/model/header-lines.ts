// --download-headers: "Name: value" lines (as a Secret holds a token) into request headers. Errors name the
// line and the reason, never the value: it is a credential.
export class HeaderLinesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeaderLinesError';
  }
}

/** An HTTP field name (RFC 9110 token). */
const NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible characters, spaces and tabs: no CR, LF or other control character that could split a request. */
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Set by the HTTP client or the transfer itself; a store's token never needs them. */
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive']);

export function parseHeaderLines(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '') return;
    const where = `downloadHeaders line ${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HeaderLinesError(`${where}: not "Name: value"`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!NAME.test(name)) throw new HeaderLinesError(`${where}: "${name.slice(0, 64)}" is not a header name`);
    if (RESERVED.has(name.toLowerCase())) throw new HeaderLinesError(`${where}: ${name} is set by the download itself`);
    if (!VALUE.test(value)) throw new HeaderLinesError(`${where}: the value of ${name} holds a control character`);
    if (name.toLowerCase() in headers) throw new HeaderLinesError(`${where}: ${name} is given twice`);
    headers[name.toLowerCase()] = value;
  });
  return headers;
}
