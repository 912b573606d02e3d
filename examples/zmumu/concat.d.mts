export function concatJsonLines(texts: { name: string; text: string }[]): string;
