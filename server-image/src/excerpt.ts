// Text from a client or an upstream (a version name from the path, an output name, an upstream's error)
// goes into error messages and logs only as a bounded excerpt: a 20 MB input must not come back as a
// 20 MB error, nor fill the log. Pure.

/** Characters kept of any text a message quotes. */
export const EXCERPT_CHARS = 120;

/** `text` whole when short, else its first `max` characters and how many more there were. */
export function excerpt(text: string, max = EXCERPT_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}
