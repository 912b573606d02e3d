/** Quotes one word for sh (single quotes; a quote inside becomes '\''); plain words stay as they are. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
