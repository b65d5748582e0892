// One message text for both engines. A template renders to a plain string for the webhook
// and the CLI, and to a CEL string expression for the rendered ValidatingAdmissionPolicy,
// so the two can never word a denial differently.

/** A CEL expression (as source text) standing for a value known only at admission time. */
export class Cel {
  constructor(readonly expr: string) {}
}
export type Str = string | Cel;
export const cel = (expr: string): Cel => new Cel(expr);

/** A CEL string literal: single quotes, with \\, ' and control characters escaped. */
export function celQuote(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`).replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
}

export function celOf(s: Str): string {
  return typeof s === 'string' ? celQuote(s) : s.expr;
}

/** Tagged template: a string when every value is a string, else a CEL concatenation. */
export function t(strings: TemplateStringsArray, ...values: Str[]): Str {
  const parts: string[] = [];
  let literal = '';
  strings.forEach((s, i) => {
    literal += s;
    if (i >= values.length) return;
    const v = values[i];
    if (typeof v === 'string') literal += v;
    else {
      if (literal) parts.push(celQuote(literal));
      literal = '';
      parts.push(`(${v.expr})`);
    }
  });
  if (parts.length === 0) return literal;
  if (literal) parts.push(celQuote(literal));
  return cel(parts.join(' + '));
}

/** `cond ? a : b` in both languages. */
export function choose(cond: boolean | Cel, a: Str, b: Str): Str {
  if (typeof cond === 'boolean') return cond ? a : b;
  return cel(`(${cond.expr}) ? ${celOf(a)} : ${celOf(b)}`);
}

export interface Template<K extends string> {
  text(values: Record<K, string>): string;
  cel(values: Record<K, Str>): string;
}

/** A message with named holes, rendered as text (webhook) or as a CEL expression (policy). */
export function template<K extends string>(render: (values: Record<K, Str>) => Str): Template<K> {
  return {
    text(values) {
      const out = render(values);
      if (typeof out !== 'string') throw new Error('template rendered CEL from plain values');
      return out;
    },
    cel: (values) => celOf(render(values)),
  };
}
