// plural.js — the word for a count, by the rules of simulator/narrate/plural.py (one table tests both).
//
// Russian (CLDR, integers): one «1 письмо, 21 письмо», few «2 письма, 34 письма», many «5 писем,
// 11 писем, 112 писем».  English: one «1 message», other «0 messages, 2 messages».
// Interface strings ask for it as {n#письмо|письма|писем} (see i18n.js).

export function ruForm(n, one, few, many) {
  const k = Math.abs(Math.trunc(Number(n) || 0));
  const tail = k % 10, tens = k % 100;
  if (tail === 1 && tens !== 11) return one;
  if (tail >= 2 && tail <= 4 && !(tens >= 12 && tens <= 14)) return few;
  return many;
}

export function enForm(n, one, other) {
  return Math.abs(Number(n)) === 1 ? one : other;
}

// The form of `forms` (as written in the catalogue, split on "|") for `n` in `lang`.
export function form(lang, n, forms) {
  const [one, second = one, third = second] = forms;
  return lang === "ru" ? ruForm(n, one, second, third) : enForm(n, one, second);
}
