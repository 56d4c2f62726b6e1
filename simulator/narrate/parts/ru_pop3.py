"""Russian texts of the pop3 facts (merged into ../ru.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason

_POP3_REFUSED = {
    f.LoginCode.AUTH: "неверный логин или пароль",
    f.LoginCode.IN_USE: "ящик занят",
    f.LoginCode.SYS_TEMP: "ящик недоступен",
    f.LoginCode.OK: "вход выполнен",
}
_POP3_WHY_ENDED = {
    f.SessionEnd.DROPPED: "соединение закрыто",
    f.SessionEnd.TIMEOUT: "почтовый клиент (MUA) слишком долго молчал",
    f.SessionEnd.ERROR: "на сервере произошла внутренняя ошибка",
    f.SessionEnd.QUIT: f"почтовый клиент (MUA) отправил {code('QUIT')}",
}


def _pop3_messages(n: int) -> str:
    return plural.ru(n, "письмо", "письма", "писем")


def _pop3_user(x: f.Pop3Login | f.Pop3Listed | f.Pop3Retrieved | f.Pop3Deleted | f.Pop3SessionEnded) -> str:
    return x.address or f"пользователь с адреса {x.peer}"


def _pop3_mechanism(mechanism: str) -> str:
    return code("USER/PASS") if mechanism == "USER" else code(f"AUTH {mechanism}")


def _pop3_first_lines(n: int) -> str:
    if n == 0:
        return ", без текста"
    if n == 1:
        return " и первую строку текста"
    return f" и первые {plural.ru(n, 'строку', 'строки', 'строк')} текста"


def _pop3_login(x: f.Pop3Login) -> tuple[str, str]:
    if x.code is not f.LoginCode.OK:
        return _pop3_refused(x)
    summary = (f"{_pop3_user(x)} вошёл по POP3 ({_pop3_mechanism(x.mechanism)}): {_pop3_messages(x.messages)}, "
               f"{plural.size_ru(x.octets)}")
    client = f"Почтовый клиент (MUA) {x.address}" if x.address else f"Почтовый клиент (MUA) с адреса {x.peer}"
    explain = (f"{client} вошёл на POP3-сервер командой {_pop3_mechanism(x.mechanism)}. "
               f"POP3 видит только одну папку, INBOX, как пронумерованный список писем, который не меняется до "
               f"конца сеанса: здесь {_pop3_messages(x.messages)}, {plural.size_ru(x.octets)}. Пока сеанс идёт, "
               f"ящик закрыт для второго POP3-сеанса (RFC 1939 §4).")
    if x.tls:
        explain += " Соединение зашифровано TLS, поэтому пароль нельзя было прочитать в сети."
    else:
        explain += (f" Соединение не зашифровано: пароль прошёл по сети открытым текстом (посмотрите в протокол "
                    f"обмена; {code('AUTH PLAIN')} лишь кодирует его в {code('base64')}). {code('STLS')} или "
                    f"порт {code('POP3S')} скрыли бы его.")
    return summary, explain


def _pop3_refused(x: f.Pop3Login) -> tuple[str, str]:
    summary = f"вход по POP3 как {code(x.login)} с адреса {x.peer} отклонён: {_POP3_REFUSED[x.code]}"
    if x.code is f.LoginCode.IN_USE:
        explain = (f"Пароль для {code(x.login)} верный, но этот ящик уже открыт другим POP3-сеансом. POP3 "
                   f"разрешает только один сеанс на ящик одновременно (RFC 1939 §4), поэтому сервер ответил "
                   f"{code('-ERR [IN-USE]')} (RFC 2449 §8.1.2). Почтовому клиенту (MUA) стоит попробовать позже.")
    elif x.code is f.LoginCode.SYS_TEMP:
        explain = (f"Логин {code(x.login)} верный, но сервер не смог сейчас открыть ящик и ответил "
                   f"{code('-ERR [SYS/TEMP]')} (RFC 3206): временная проблема, попробуйте позже.")
    else:
        failures = plural.ru(x.free_failures, "неудачи", "неудач", "неудач")
        explain = (f"Почтовый клиент (MUA) с адреса {x.peer} попытался войти как {code(x.login)}, но не смог. "
                   f"Сервер отвечает одинаково, {code('-ERR [AUTH]')}, и когда такого пользователя нет, и когда "
                   f"пароль неверный, чтобы никто не мог узнать, какие пользователи существуют. После {failures} "
                   f"с одного адреса каждая следующая попытка ждёт всё дольше: это тормоз для подбора паролей.")
        if x.next_delay:
            explain += f" Следующая попытка с этого адреса подождёт {x.next_delay:g} с."
    return summary, explain


def _pop3_listed(x: f.Pop3Listed) -> tuple[str, str]:
    summary = f"{_pop3_user(x)}: {code(x.command)} перечисляет {_pop3_messages(x.messages)}"
    if x.command == "UIDL":
        return summary, (
            f"{code('UIDL')} выдаёт уникальный идентификатор для каждого письма ({_pop3_messages(x.messages)}). "
            f"В отличие от номеров писем, эти идентификаторы не меняются от сеанса к сеансу, поэтому почтовый "
            f"клиент (MUA), который оставляет почту на сервере, запоминает их, чтобы знать, какие письма он уже "
            f"скачал (RFC 1939 §7).")
    return summary, (
        f"{code('LIST')}: сервер перечисляет письма в ящике ({_pop3_messages(x.messages)}), по строке на письмо: "
        f"номер и размер (всего {plural.size_ru(x.octets)}). Номера действуют только в этом сеансе.")


def _pop3_retrieved(x: f.Pop3Retrieved) -> tuple[str, str]:
    what = f"TOP {x.number} {x.lines or 0}" if x.command == "TOP" else f"RETR {x.number}"
    subject = (x.message or {}).get("subject")
    summary = (f"{_pop3_user(x)} скачивает письмо {x.number} ({code(what)}, {plural.size_ru(x.size)})"
               + (f": {code(subject)}" if subject else ""))
    if x.command == "TOP":
        return summary, (
            f"{code(what)}: сервер отправил только заголовки письма {x.number}{_pop3_first_lines(x.lines or 0)}. "
            f"Почтовые клиенты (MUA) используют {code('TOP')}, чтобы показать отправителя и тему до того, как "
            f"скачивать письмо целиком (RFC 1939 §7).")
    return summary, (
        f"{code(what)}: сервер отправил письмо {x.number} целиком ({plural.size_ru(x.size)}), заголовки и текст. "
        f"Строка, начинающаяся с {code('.')}, отправляется с лишней {code('.')}, а строка из одной {code('.')} "
        f"завершает письмо (RFC 1939 §3). В POP3 почтовый клиент (MUA) хранит свою копию и обычно затем удаляет "
        f"письмо на сервере командой {code('DELE')}, в отличие от IMAP, где почта остаётся на сервере.")


def _pop3_deleted(x: f.Pop3Deleted) -> tuple[str, str]:
    dele = code(f"DELE {x.number}")
    return (f"{_pop3_user(x)} помечает письмо {x.number} для удаления ({dele})",
            f"{dele} только помечает письмо {x.number} для удаления; пока ничего не удалено. Сервер удалит "
            f"помеченные письма, когда почтовый клиент (MUA) отправит {code('QUIT')} (состояние {code('UPDATE')}, "
            f"RFC 1939 §6). {code('RSET')} снимет пометки, а соединение, оборвавшееся без {code('QUIT')}, ничего "
            f"не удалит.")


def _pop3_ended(x: f.Pop3SessionEnded) -> tuple[str, str]:
    if x.reason is not f.SessionEnd.QUIT:
        return _pop3_abandoned(x)
    quit_, update = code("QUIT"), code("UPDATE")
    if not x.ok:
        return (f"{_pop3_user(x)} {quit_}: сервер не смог удалить помеченные письма",
                f"{quit_}: сервер перешёл в состояние {update}, но не смог удалить помеченные письма и сообщил "
                f"об этом ответом {code('-ERR')} (RFC 1939 §6). Письма остались в ящике.")
    summary = (f"{_pop3_user(x)} {quit_}: с сервера удалено {_pop3_messages(x.deleted)}, "
               f"осталось {_pop3_messages(x.left)}")
    if x.deleted:
        return summary, (
            f"{quit_}: сеанс перешёл в состояние {update}, и сервер удалил письма, помеченные командой "
            f"{code('DELE')} ({_pop3_messages(x.deleted)}); на сервере осталось: {_pop3_messages(x.left)}. "
            f"Это «скачать и удалить» по-POP3 (RFC 1939 §6): теперь эти письма есть только в почтовом клиенте "
            f"(MUA).")
    return summary, (
        f"{quit_}: ничего не было помечено командой {code('DELE')}, поэтому все письма ({_pop3_messages(x.left)}) "
        f"остаются на сервере (почтовый клиент (MUA) «оставляет письма на сервере» и в следующий раз узнает их по "
        f"{code('UIDL')}).")


def _pop3_abandoned(x: f.Pop3SessionEnded) -> tuple[str, str]:
    why = _POP3_WHY_ENDED[x.reason]
    summary = (f"{_pop3_user(x)}: соединение закончилось без {code('QUIT')}: {why}; ничего не удалено"
               + (f", помеченные для удаления письма сохранены: {x.kept_marked}" if x.kept_marked else ""))
    return summary, (
        f"Сеанс закончился без {code('QUIT')}: {why}. POP3 удаляет письма только после {code('QUIT')}, поэтому "
        f"письма, помеченные командой {code('DELE')} ({_pop3_messages(x.kept_marked)}), не удалены (RFC 1939 §6).")


def _pop3_error(x: f.Pop3Error) -> tuple[str, str]:
    return (f"POP3-сеанс с адреса {x.peer} завершён внутренней ошибкой: {code(x.error)}",
            "Сервер столкнулся с непредвиденной ошибкой в этом сеансе и закрыл его. Ничего не удалено; "
            "другие сеансы продолжают работать.")


TEXTS = {
    f.Pop3Login: _pop3_login,
    f.Pop3Listed: _pop3_listed,
    f.Pop3Retrieved: _pop3_retrieved,
    f.Pop3Deleted: _pop3_deleted,
    f.Pop3SessionEnded: _pop3_ended,
    f.Pop3Error: _pop3_error,
}
REASONS: dict = {}
