"""Russian texts of the smtp facts (merged into ../ru.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason

_SMTP_CUT = "…"


def _smtp_v(gender: str, masculine: str, feminine: str) -> str:
    return feminine if gender == "f" else masculine


def _smtp_cap(text: str) -> str:
    """A sentence starts with a capital, unless it starts with a host name (Latin letters)."""
    return text[:1].upper() + text[1:] if "а" <= text[:1] <= "я" else text


def _smtp_who(x: f.SmtpSession) -> tuple[str, str]:
    """Who talked to the server, and its grammatical gender."""
    if x.src.startswith("mua:") and x.client:
        return f"почтовый клиент (MUA) {x.client}", "m"
    if x.src.startswith("mta:") and x.client:
        return f"агент передачи почты (MTA) {x.client}", "m"
    if x.peer and x.peer != "?":
        return f"программа с адреса {x.peer}", "f"
    return "программа на этом компьютере", "f"


def _smtp_server(x: f.SmtpSession) -> dict[str, str]:
    """The server in the cases the texts need; the front door has no host name of its own."""
    if x.host:
        return {"nom": x.host, "dat": f"серверу {x.host}", "ins": f"сервером {x.host}", "g": "m"}
    return {"nom": "общая точка входа", "dat": "общей точке входа", "ins": "общей точкой входа", "g": "f"}


def _smtp_port(x: f.SmtpSession) -> str:
    return f" на порт {x.port}" if x.port else ""


def _smtp_for(rcpts: tuple[str, ...]) -> str:
    return f" для {listing(rcpts)}" if rcpts else ""


def _smtp_submitted(x: f.SmtpSession) -> tuple[str, str]:
    who, g = _smtp_who(x)
    server = _smtp_server(x)
    queued = f" (номер в очереди {code(x.queue_id)})" if x.queue_id else ""
    return (f"{who} передаёт письмо {server['dat']} (MSA)",
            f"{_smtp_cap(who)} {_smtp_v(g, 'подключился', 'подключилась')} к {server['dat']} "
            f"(MSA, сервер отправки){_smtp_port(x)}, {_smtp_v(g, 'вошёл', 'вошла')} командой "
            f"{code('AUTH')} и {_smtp_v(g, 'передал', 'передала')} письмо{_smtp_for(x.rcpts)}. MSA записал "
            f"письмо в свою очередь на диск и только после этого ответил {code('250')}: теперь за письмо "
            f"отвечает {server['nom']}{queued}.")


def _smtp_relayed(x: f.SmtpSession) -> tuple[str, str]:
    who, g = _smtp_who(x)
    server = _smtp_server(x)
    if not x.final:
        return (f"{who} передаёт письмо {server['dat']} (резервный MX передаст его дальше)",
                f"{_smtp_cap(who)} {_smtp_v(g, 'передал', 'передала')} письмо{_smtp_for(x.rcpts)} "
                f"{server['dat']}, резервному MX. У резервного MX нет почтовых ящиков: он держит письмо "
                f"в своей очереди и передаст его основному MX, когда тот станет доступен.")
    saved = _smtp_v(server["g"], "сохранил", "сохранила")
    answered = _smtp_v(server["g"], "ответил", "ответила")
    return (f"{who} передаёт письмо {server['dat']}",
            f"{_smtp_cap(who)} {_smtp_v(g, 'подключился', 'подключилась')} к {server['dat']}, MX домена "
            f"получателя{_smtp_port(x)} (MX-порт песочницы), и {_smtp_v(g, 'передал', 'передала')} "
            f"письмо{_smtp_for(x.rcpts)} по SMTP: {code('EHLO')}, {code('MAIL FROM')} (отправитель "
            f"конверта), {code('RCPT TO')} (получатели конверта), {code('DATA')}. "
            f"{_smtp_cap(server['nom'])} {saved} письмо и {answered} {code('250')}; теперь агент доставки "
            f"(MDA) положит его в почтовый ящик.")


def _smtp_by_hand(x: f.SmtpSession) -> tuple[str, str]:
    who, g = _smtp_who(x)
    server = _smtp_server(x)
    return (f"{who} → {server['nom']}: письмо принято по SMTP",
            f"{_smtp_cap(who)} (вручную, {code('swaks')} или {code('nc')}) напрямую "
            f"{_smtp_v(g, 'поговорил', 'поговорила')} по SMTP с {server['ins']}{_smtp_port(x)}, и сервер "
            f"принял письмо.")


def _smtp_refused(x: f.SmtpSession) -> tuple[str, str]:
    server = _smtp_server(x)["nom"]
    reply = code(x.reply) if x.reply else "нет"
    return (f"{server} отвечает отказом: {reply}",
            f"{_smtp_cap(server)} отвечает отказом: {reply}. Ответ {code('5xx')} окончательный: "
            f"отправитель не должен повторять попытку; ответ {code('4xx')} временный.")


def _smtp_no_message(x: f.SmtpSession) -> tuple[str, str]:
    who, g = _smtp_who(x)
    server = _smtp_server(x)
    return (f"{who} говорит по SMTP с {server['ins']} (без письма)",
            f"{_smtp_cap(who)} {_smtp_v(g, 'поговорил', 'поговорила')} по SMTP с {server['ins']}"
            f"{_smtp_port(x)}; сеанс закончился без принятого письма. Посмотрите коды ответов: "
            f"{code('4xx')} — «попробуйте позже», {code('5xx')} — «нет».")


_SMTP_OUTCOMES = {
    f.SmtpOutcome.SUBMITTED: _smtp_submitted,
    f.SmtpOutcome.RELAYED: _smtp_relayed,
    f.SmtpOutcome.BY_HAND: _smtp_by_hand,
    f.SmtpOutcome.REFUSED: _smtp_refused,
    f.SmtpOutcome.NO_MESSAGE: _smtp_no_message,
}


def _smtp_session(x: f.SmtpSession) -> tuple[str, str]:
    return _SMTP_OUTCOMES[x.outcome](x)


def _smtp_line_text(side: str, text: str) -> str:
    if side == _SMTP_CUT:
        count = int(text) if text.isdigit() else 0
        return f"[ещё {plural.ru(count, 'строка', 'строки', 'строк')} письма]"
    return code(text)


def _smtp_line(x: f.SmtpLine) -> tuple[str, str]:
    shown = [_smtp_line_text(side, text) for side, text in x.transcript[-4:]]
    summary = " / ".join(shown) if shown else "диалог SMTP"
    return (summary,
            "Пошаговый режим по строкам: это новые строки диалога. Каждый ответ сервера ждёт, пока "
            "преподаватель нажмёт «Шаг», поэтому разговор можно прочитать по одной строке.")


def _smtp_attempt(x: f.SmtpAttempt) -> tuple[str, str]:
    why = reason("ru", x.reason)
    return (f"{x.host} → {x.target}: {why}",
            f"{x.host} пытается подключиться к {x.target} ({x.address}, порт {x.port}, приоритет MX "
            f"{x.preference}), но: {why}. Тогда он переходит к следующему MX в списке, если такой есть.")


TEXTS = {f.SmtpSession: _smtp_session, f.SmtpLine: _smtp_line, f.SmtpAttempt: _smtp_attempt}
REASONS = {
    f.AttemptReason.REFUSED: lambda r: "соединение отклонено (там никто не слушает: сервер выключен)",
    f.AttemptReason.TIMEOUT: lambda r: "нет ответа в отведённое время",
    f.AttemptReason.CLOSED: lambda r: "сервер закрыл соединение",
    f.AttemptReason.BAD_REPLY: lambda r: f"ответ сервера — не ответ SMTP ({code(r['detail'])})",
    f.AttemptReason.ERROR: lambda r: f"сетевая ошибка ({code(r['detail'])})",
}
