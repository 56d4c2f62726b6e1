// codes.js — what each reply code means, in plain words (English and Russian).
// SMTP: RFC 5321 §4.2 (and RFC 4954 for AUTH, RFC 3463 for the x.y.z enhanced codes);
// DNS: RFC 1035 §4.1.1 rcodes; POP3: RFC 1939; IMAP: RFC 9051 §7.1.

const SMTP = {
  220: ["the server is ready", "сервер готов"],
  221: ["goodbye: the server closes the connection", "до свидания: сервер закрывает соединение"],
  235: ["login accepted", "вход выполнен"],
  250: ["OK: done", "OK: выполнено"],
  251: ["the user is not local; the server will forward", "пользователь не местный; сервер перешлёт"],
  334: ["the server waits for the login data (base64)", "сервер ждёт данные входа (base64)"],
  354: ["go ahead: send the message, end with a line holding a single dot", "передавайте письмо, в конце строка с одной точкой"],
  421: ["service not available now: try later", "сервис сейчас недоступен: попробуйте позже"],
  450: ["mailbox busy or unavailable: try later", "ящик занят или недоступен: попробуйте позже"],
  451: ["local error: try later", "местная ошибка: попробуйте позже"],
  452: ["not enough storage or too many recipients: try later", "не хватает места или слишком много получателей: позже"],
  500: ["command not recognised", "команда не распознана"],
  501: ["syntax error in the arguments", "ошибка в аргументах команды"],
  502: ["command not implemented", "команда не реализована"],
  503: ["wrong order of commands", "неверный порядок команд"],
  530: ["log in first (AUTH)", "сначала войдите (AUTH)"],
  535: ["wrong login or password", "неверный логин или пароль"],
  550: ["refused: no such mailbox, or not allowed", "отказ: нет такого ящика или это запрещено"],
  551: ["the user is not local; send elsewhere", "пользователь не местный; отправьте в другое место"],
  552: ["too big for the mailbox or the server", "слишком большое для ящика или сервера"],
  553: ["this address is not allowed", "такой адрес не допускается"],
  554: ["transaction failed", "транзакция не удалась"],
  555: ["MAIL FROM / RCPT TO parameters not recognised", "параметры MAIL FROM / RCPT TO не распознаны"],
};

const ENHANCED = {
  "2.0.0": ["success", "успех"],
  "2.1.0": ["sender OK", "отправитель принят"],
  "2.1.5": ["recipient OK", "получатель принят"],
  "2.7.0": ["authentication succeeded", "аутентификация успешна"],
  "4.4.1": ["no answer from the host", "хост не отвечает"],
  "4.4.7": ["delivery time expired", "время доставки истекло"],
  "5.1.1": ["no such user", "нет такого пользователя"],
  "5.1.10": ["the domain accepts no mail (null MX)", "домен не принимает почту (нулевой MX)"],
  "5.1.2": ["bad destination domain", "неверный домен назначения"],
  "5.4.6": ["mail loop", "петля маршрутизации"],
  "5.7.0": ["authentication required", "нужна аутентификация"],
  "5.7.1": ["not allowed (relaying denied)", "запрещено (пересылка не разрешена)"],
  "5.7.8": ["bad credentials", "неверные учётные данные"],
};

const DNS = {
  NOERROR: ["the name exists; here is the answer", "имя существует; вот ответ"],
  NXDOMAIN: ["no such domain", "такого домена нет"],
  SERVFAIL: ["the server failed: try later", "сбой сервера: попробуйте позже"],
  REFUSED: ["refused: outside the sandbox's zones", "отказ: вне зон песочницы"],
  FORMERR: ["the question was malformed", "вопрос составлен неверно"],
  NOTIMP: ["this kind of question is not supported", "такой вопрос не поддерживается"],
};

const WORDS = {
  "+OK": ["POP3: yes, done", "POP3: да, выполнено"],
  "-ERR": ["POP3: error", "POP3: ошибка"],
  OK: ["IMAP: done", "IMAP: выполнено"],
  NO: ["IMAP: refused", "IMAP: отказ"],
  BAD: ["IMAP: malformed command", "IMAP: неверная команда"],
  BYE: ["IMAP: the server closes the connection", "IMAP: сервер закрывает соединение"],
  PREAUTH: ["IMAP: already logged in", "IMAP: вход уже выполнен"],
};

const pickLang = (pair, lang) => pair[lang === "ru" ? 1 : 0];

// Meaning of one server line, or "" when it carries no code we know.
export function meaning(line, lang) {
  const text = String(line || "");
  const smtp = /^(\d{3})[ -](\d\.\d{1,3}\.\d{1,3})?/.exec(text);
  if (smtp) {
    const code = Number(smtp[1]);
    const base = SMTP[code] ? pickLang(SMTP[code], lang) : generic(code, lang);
    const enh = smtp[2] && ENHANCED[smtp[2]] ? ` (${smtp[2]}: ${pickLang(ENHANCED[smtp[2]], lang)})` : "";
    return base + enh;
  }
  const pop = /^([+-](?:OK|ERR))\b/.exec(text);
  if (pop) return pickLang(WORDS[pop[1]], lang);
  const imap = /^(?:\*|[A-Za-z0-9.]+) (OK|NO|BAD|BYE|PREAUTH)\b/.exec(text);
  if (imap) return pickLang(WORDS[imap[1]], lang);
  return "";
}

export function smtpCode(code, lang) {
  return SMTP[code] ? pickLang(SMTP[code], lang) : generic(Number(code), lang);
}

export function rcodeMeaning(rcode, lang) {
  return DNS[rcode] ? pickLang(DNS[rcode], lang) : "";
}

function generic(code, lang) {
  const cls = Math.floor(code / 100);
  const en = {2: "success", 3: "go on", 4: "temporary failure: try later", 5: "permanent failure: do not retry"}[cls];
  const ru = {2: "успех", 3: "продолжайте", 4: "временная ошибка: попробуйте позже", 5: "окончательная ошибка: не повторять"}[cls];
  return (lang === "ru" ? ru : en) || "";
}

export const CODES = {SMTP, ENHANCED, DNS, WORDS};
