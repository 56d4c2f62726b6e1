"""The Russian catalogue: every word a learner reads in this language.

TEXTS: fact class -> function(fact) -> (summary, explanation).  REASONS: reason code ->
function(reason) -> words.  UI: the page's own strings, served to the page by the web.
A catalogue is long on purpose: one file per language is what a translator reviews.
"""
from __future__ import annotations

from . import plural
from .. import facts as f
from .markup import code, codes, flag, listing, mechanism
from .why import nested, reason, reasons


# -------------------- world -----------------------------------------------------------------

def _world_mx_table(table: tuple[tuple[int, str], ...]) -> str:
    if not table:
        return "MX-записей нет"
    if table == ((0, "."),):
        return f"нулевой MX ({code('MX 0 .')}): домен не принимает почту"
    return listing(code(f"MX {p} {h}") for p, h in table)


def _world_host_state(x: f.HostStateChanged) -> tuple[str, str]:
    if x.up:
        return (f"{x.host} снова работает",
                f"Преподаватель снова запустил {x.host}. Сервер опять слушает свои порты, а письма из "
                f"его очереди сразу отправляются повторно.")
    return (f"{x.host} выключен",
            f"Преподаватель выключил {x.host}: на его адресе больше никто не слушает, и подключение "
            f"отправляющего сервера будет отклонено. DNS по-прежнему называет этот сервер: следующий "
            f"запрос и подключение покажут, что делает настоящий агент передачи почты (MTA), когда "
            f"сервер недоступен.")


def _world_mx_changed(x: f.MxTableChanged) -> tuple[str, str]:
    table = _world_mx_table(x.mx)
    return (f"таблица MX домена {x.domain} теперь: {table}",
            f"Преподаватель изменил таблицу MX домена {x.domain}: {table}. С этого момента DNS-сервер "
            f"отвечает новой таблицей, и следующий запрос отправляющего MTA увидит изменение.")


def _world_who(host: str) -> str:
    """A host by name; "" is the front door, which has none."""
    return host or "общая точка входа"


_WORLD_STEPS = {
    f.HopStep.SUBMIT: lambda x: f"почтовый клиент (MUA) {x.user} передаёт письмо серверу {_world_who(x.host)}",
    f.HopStep.DNS_QUERY: lambda x: f"{_world_who(x.host)} спрашивает у DNS MX-записи домена {x.domain}",
    f.HopStep.CONNECT: lambda x: f"{_world_who(x.host)} подключается к {x.target} ({x.address})",
    f.HopStep.DELIVER: lambda x: f"агент доставки (MDA) сервера {_world_who(x.host)} кладёт письмо в ящик {x.rcpt}",
    f.HopStep.REPLY: lambda x: f"{_world_who(x.host)} отвечает: {code(x.reply)}",
}


def _world_next_hop(x: f.NextHop) -> tuple[str, str]:
    what = _WORLD_STEPS[x.step](x)
    return (f"Следующий шаг ждёт разрешения: {what}",
            "Мир на паузе: этот шаг произойдёт, когда преподаватель нажмёт «Шаг» (или «Пуск»). "
            "Настоящие серверы и клиенты в это время действительно ждут: для них сервер просто "
            "медленный.")


_TEXTS_WORLD: dict = {f.HostStateChanged: _world_host_state, f.MxTableChanged: _world_mx_changed, f.NextHop: _world_next_hop}


# -------------------- smtp ------------------------------------------------------------------

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


_TEXTS_SMTP: dict = {f.SmtpSession: _smtp_session, f.SmtpLine: _smtp_line, f.SmtpAttempt: _smtp_attempt}


_REASONS_SMTP: dict = {
    f.AttemptReason.REFUSED: lambda r: "соединение отклонено (там никто не слушает: сервер выключен)",
    f.AttemptReason.TIMEOUT: lambda r: "нет ответа в отведённое время",
    f.AttemptReason.CLOSED: lambda r: "сервер закрыл соединение",
    f.AttemptReason.BAD_REPLY: lambda r: f"ответ сервера — не ответ SMTP ({code(r['detail'])})",
    f.AttemptReason.ERROR: lambda r: f"сетевая ошибка ({code(r['detail'])})",
}


# -------------------- dns -------------------------------------------------------------------





def _dns_lookup(x: f.MxLookup) -> tuple[str, str]:
    answers = codes(x.answers)
    asked = f"{x.host} спрашивает у DNS MX-записи домена {x.domain}: {answers or code(x.rcode)}"
    if x.error is not None:
        why = reason("ru", x.error)
        after = ("Письмо доставить нельзя: оно возвращается отправителю." if x.permanent
                 else "Это временно: письмо остаётся в очереди, попытка будет повторена позже.")
        return (f"{asked} — {why}",
                f"{x.host} спросил у DNS-сервера MX-записи домена {x.domain}. Итог: {why}. {after}")
    first = f"сначала пробуется {x.chosen}" if x.chosen else "пробовать некого"
    order = f" ({reasons('ru', x.reason)})" if x.reason else ""
    found = "их нет" if x.implicit or not x.answers else answers
    return (f"{asked} — {first}",
            f"Чтобы узнать, куда отправлять почту для {x.domain}, агент передачи почты (MTA) {x.host} "
            f"запросил в DNS MX-записи: {found}. Чем меньше число приоритета MX, тем раньше пробуют "
            f"сервер, поэтому {first}{order}.")


def _dns_served(x: f.DnsServed) -> tuple[str, str]:
    answers = codes(x.answers) or "записей нет"
    return (f"вопрос к DNS с адреса {x.peer}: {code(x.question)} → {code(x.rcode)}",
            f"Программа с адреса {x.peer} ({code('dig')} или программа студента) спросила DNS песочницы "
            f"по {code(x.transport.upper())}: {code(x.question)}. Ответ: {code(x.rcode)}; {answers}. "
            f"Сервер авторитетен только для зон песочницы и отказывает во всём остальном.")


_TEXTS_DNS: dict = {f.MxLookup: _dns_lookup, f.DnsServed: _dns_served}


_REASONS_DNS: dict = {
    f.RouteReason.LOWEST_FIRST: lambda r: "сначала наименьшее число приоритета MX",
    f.RouteReason.OWN_PREFERENCE: lambda r: (f"этот сервер сам указан как MX с приоритетом {r['own']}, "
                                             f"поэтому учитываются только меньшие числа"),
    f.RouteReason.EQUAL_RANDOM: lambda r: (f"одинаковый приоритет MX {r['preference']}: случайный порядок "
                                           f"(RFC 5321 §5.1)"),
    f.RouteReason.IMPLICIT_MX: lambda r: (f"MX-записей нет: неявным MX служит запись {code('A')} самого "
                                          f"домена (RFC 5321 §5.1)"),
    f.RouteReason.INVALID_DOMAIN: lambda r: f"{code(r['domain'])} — недопустимое имя домена",
    f.RouteReason.DNS_NO_ANSWER: lambda r: f"DNS-сервер не ответил ({code(r['error'])})",
    f.RouteReason.DNS_RCODE: lambda r: f"DNS-сервер ответил {code(r['rcode'])}",
    f.RouteReason.OUTSIDE: lambda r: (f"домен {r['domain']} находится вне песочницы: DNS песочницы "
                                      f"отказывается отвечать за него, а почта никогда не покидает "
                                      f"песочницу"),
    f.RouteReason.NXDOMAIN: lambda r: f"домена {r['domain']} не существует ({code('NXDOMAIN')})",
    f.RouteReason.NULL_MX: lambda r: (f"домен {r['domain']} публикует нулевой MX (RFC 7505): он не "
                                      f"принимает почту"),
    f.RouteReason.LOOP: lambda r: (f"почта для {r['domain']} возвращается к этому же серверу: он лучший "
                                   f"MX, но не конечный получатель"),
    f.RouteReason.NO_ADDRESS: lambda r: f"ни у одного MX домена {r['domain']} нет адресной записи",
    f.RouteReason.NO_MAIL_SERVER: lambda r: (f"у домена {r['domain']} нет ни записей MX, ни записей "
                                             f"{code('A')}: почтового сервера нет"),
}


# -------------------- queue -----------------------------------------------------------------

def _queue_seconds(seconds: float) -> str:
    value = f"{round(seconds, 1):g}" if seconds < 1000 else f"{seconds:.0f}"
    return f"{value.replace('.', ',')} с"


def _queue_for(rcpts: tuple[str, ...]) -> str:
    return f" для {listing(rcpts)}" if rcpts else ""




def _queue_relayed(x: f.Relayed) -> tuple[str, str]:
    return (f"{x.target} принял письмо: оно покидает очередь {x.host}",
            f"{x.target} ответил {code('250')}{_queue_for(x.rcpts)}: теперь письмо у него, и {x.host} "
            f"удаляет его из своей очереди.")


def _queue_retry(x: f.Retry) -> tuple[str, str]:
    return (f"{x.host} пробует снова (попытка {x.attempt}){_queue_for(x.rcpts)}",
            f"Подошло время повтора: {x.host} достаёт письмо{_queue_for(x.rcpts)} из очереди и пробует "
            f"снова (попытка {x.attempt}), начиная заново с запроса к DNS.")


def _queue_deferred(x: f.Deferred) -> tuple[str, str]:
    why = reasons("ru", x.reasons)
    because = f" ({why})" if why else ""
    attempts = plural.ru(x.attempts, "попытки", "попыток", "попыток")
    return (f"{x.host} оставляет письмо в очереди; повтор через {_queue_seconds(x.retry_in)}{because}",
            f"Доставка{_queue_for(x.rcpts)} пока не удалась{because}. {x.host} оставляет письмо в "
            f"очереди и попробует снова через {_queue_seconds(x.retry_in)} (уже после {attempts}). "
            f"Настоящий агент передачи почты (MTA) ждёт минуты и пытается несколько дней; песочница "
            f"сжимает время.")


def _queue_bounced(x: f.Bounced) -> tuple[str, str]:
    why = reason("ru", x.reasons[0]) if x.reasons else "причина не записана"
    rcpts = listing(x.rcpts) or "его получателей"
    if x.dropped:
        return (f"{x.host} прекращает попытки для {rcpts}: {why} (на уведомление не отвечают "
                f"уведомлением: письмо удалено)",
                f"Письмо для {rcpts} доставить нельзя ({why}). Это само по себе уведомление о "
                f"недоставке (пустой отправитель конверта), а на уведомление не отвечают уведомлением, "
                f"поэтому {x.host} его удаляет.")
    every = "; ".join(f"{r}: {reason('ru', w)}" for r, w in zip(x.rcpts, x.reasons))
    return (f"{x.host} прекращает попытки для {rcpts}: {why}",
            f"Письмо для {rcpts} не может быть доставлено ({every or why}). {x.host} прекращает попытки "
            f"и отправляет отправителю конверта {x.sender} уведомление о недоставке (DSN, RFC 3464) с "
            f"заголовками исходного письма.")


def _queue_quarantined(x: f.Quarantined) -> tuple[str, str]:
    return (f"{x.host} откладывает письмо {code(x.queue_id)} в карантин после внутренней ошибки",
            f"{x.host} не смог обработать письмо {code(x.queue_id)} из-за внутренней ошибки "
            f"({code(x.error)}) дольше срока жизни очереди. Он отложил письмо в папку карантина своей "
            f"очереди на диске, чтобы ничего не потерять, и прекратил попытки.")


def _queue_delivered(x: f.MdaDelivered) -> tuple[str, str]:
    return (f"агент доставки (MDA) сервера {x.host} кладёт письмо в ящик {x.rcpt}",
            f"Агент доставки (MDA) сервера {x.host} записал письмо ({plural.size_ru(x.size)}) в почтовый "
            f"ящик {x.rcpt} (Maildir): сначала в {code('tmp/')}, затем переименовал в {code('new/')}, "
            f"поэтому в ящике никогда не бывает половины письма. Файл: {code(x.path)}. Теперь почтовый "
            f"клиент (MUA) пользователя может забрать письмо по POP3 или IMAP.")


def _queue_dsn(x: f.DsnNotice) -> tuple[str, str]:
    listed = "\n".join(f"- <{rcpt}>: {reason('ru', why)}" for rcpt, why in x.failures)
    return (f"{x.host} возвращает недоставленное письмо отправителю",
            f"Это почтовая система узла {x.host}.\n\n"
            f"Ваше письмо не удалось доставить одному или нескольким получателям. Причины указаны "
            f"ниже; заголовки исходного письма приложены."
            + (f"\n\n{listed}" if listed else ""))


_TEXTS_QUEUE: dict = {f.Relayed: _queue_relayed, f.Retry: _queue_retry, f.Deferred: _queue_deferred,
         f.Bounced: _queue_bounced, f.Quarantined: _queue_quarantined, f.MdaDelivered: _queue_delivered,
         f.DsnNotice: _queue_dsn}




def _queue_reply(r: f.Reason) -> str:
    host = r.get("host")
    return f"{host} ответил {code(r['reply'])}" if host else f"сервер ответил {code(r['reply'])}"


def _queue_unreachable(r: f.Reason) -> str:
    last = nested("ru", r, "last")
    detail = f" (последний, {r['host']}: {last})" if last and r.get("host") else (f" ({last})" if last else "")
    return f"не удалось связаться ни с одним MX домена {r['domain']}{detail}"


def _queue_lost(r: f.Reason) -> str:
    last = nested("ru", r, "last")
    return f"соединение с {r['host']} прервалось" + (f" ({last})" if last else "")


def _queue_expired(r: f.Reason) -> str:
    last = nested("ru", r, "last") or "ответа нет"
    attempts = plural.ru(r["attempts"], "попытки", "попыток", "попыток")
    return f"попытки прекращены после {attempts} за {r['lifetime']} с; последняя причина: {last}"


_REASONS_QUEUE: dict = {
    f.DeliveryReason.REPLY: _queue_reply,
    f.DeliveryReason.NO_SUCH_USER: lambda r: f"на {r['host']} нет почтового ящика {r['rcpt']}",
    f.DeliveryReason.MAILBOX_WRITE: lambda r: (f"агент доставки (MDA) не смог записать письмо в ящик "
                                               f"{r['rcpt']} ({code(r['error'])})"),
    f.DeliveryReason.UNREACHABLE: _queue_unreachable,
    f.DeliveryReason.CONNECTION_LOST: _queue_lost,
    f.DeliveryReason.EXPIRED: _queue_expired,
    f.DeliveryReason.LEGACY: lambda r: code(r["text"]),
}


# -------------------- pop3 ------------------------------------------------------------------

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


def _pop3_first_lines(n: int) -> str:
    if n == 0:
        return ", без текста"
    if n == 1:
        return " и первую строку текста"
    return f" и первые {plural.ru(n, 'строку', 'строки', 'строк')} текста"


def _pop3_login(x: f.Pop3Login) -> tuple[str, str]:
    if x.code is not f.LoginCode.OK:
        return _pop3_refused(x)
    summary = (f"{_pop3_user(x)} вошёл по POP3 ({mechanism(x.mechanism)}): {_pop3_messages(x.messages)}, "
               f"{plural.size_ru(x.octets)}")
    client = f"Почтовый клиент (MUA) {x.address}" if x.address else f"Почтовый клиент (MUA) с адреса {x.peer}"
    explain = (f"{client} вошёл на POP3-сервер командой {mechanism(x.mechanism)}. "
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


_TEXTS_POP3: dict = {
    f.Pop3Login: _pop3_login,
    f.Pop3Listed: _pop3_listed,
    f.Pop3Retrieved: _pop3_retrieved,
    f.Pop3Deleted: _pop3_deleted,
    f.Pop3SessionEnded: _pop3_ended,
    f.Pop3Error: _pop3_error,
}


# -------------------- imap ------------------------------------------------------------------

_IMAP_KEEP = ("Письма остаются на сервере (IMAP хранит почту на сервере; POP3 обычно скачивает письма "
              "и удаляет их).")




def _imap_letters(n: int) -> str:
    return plural.ru(n, "письмо", "письма", "писем")


def _imap_letters_gen(n: int) -> str:
    """«1 письма», «2 писем»: the genitive after «данные», «содержимое»."""
    return plural.ru(n, "письма", "писем", "писем")


def _imap_folder(name: str | None) -> str:
    return "в папке INBOX" if (name or "INBOX") == "INBOX" else f"в папке {code(name)}"


def _imap_login(x: f.ImapLogin) -> tuple[str, str]:
    if x.status is f.Status.FAILED:
        wait = (f" Эта попытка ждала ответа {x.delay:g} с." if x.delay else "")
        return (f"Вход IMAP ({code(x.mechanism)}) не удался для {code(x.login)}",
                "Сервер отклонил вход: неизвестный пользователь или неверный пароль (сервер не говорит, "
                "что именно, чтобы нельзя было подбирать имена). После 3 ошибок с одного адреса каждая "
                f"следующая попытка ждёт всё дольше.{wait}")
    how = code(x.mechanism)
    tls = "через TLS" if x.tls else "открытым текстом (урок: его мог прочитать любой на линии)"
    return (f"{x.login} вошёл командой {how}",
            f"Почтовый клиент (MUA) подтвердил, кто он, командой {how}; пароль передан {tls}. "
            "Теперь он может открывать папки на сервере.")


def _imap_logout(x: f.ImapLogout) -> tuple[str, str]:
    who = x.user or "почтовый клиент (MUA)"
    return (f"{who} завершает сеанс",
            "Почтовый клиент (MUA) завершает сеанс IMAP. Письма остаются на сервере: IMAP хранит почту "
            "на сервере, в отличие от POP3 с его «скачать и удалить».")


def _imap_select(x: f.ImapSelect) -> tuple[str, str]:
    folder = code(x.folder or "INBOX")
    mode = " только для чтения" if x.readonly else ""
    return (f"{code(x.command)} {folder}: {_imap_letters(x.exists)}",
            f"Почтовый клиент (MUA) открывает папку {folder}{mode}. Сервер сообщает, сколько в ней "
            f"писем, какой UID получит следующее ({code('UIDNEXT')}) и {code('UIDVALIDITY')}, по "
            "которому почтовый клиент сверяет свою локальную копию. Письма остаются на сервере.")


def _imap_create(x: f.ImapCreate) -> tuple[str, str]:
    return (f"{code('CREATE')} {code(x.created)}",
            "Почтовый клиент (MUA) создаёт новую папку на сервере; её увидят все почтовые клиенты "
            "пользователя.")


def _imap_list(x: f.ImapList) -> tuple[str, str]:
    count = plural.ru(x.count, "папка", "папки", "папок")
    return (f"{code(f'LIST {x.reference!r} {x.pattern!r}')}: {count}",
            "Почтовый клиент (MUA) запрашивает дерево папок. Папки хранятся на сервере, поэтому все "
            f"почтовые клиенты пользователя видят одни и те же; пометки {flag('Sent')}, "
            f"{flag('Trash')} и другие говорят, какая папка для чего.")


def _imap_append(x: f.ImapAppend) -> tuple[str, str]:
    return (f"{code('APPEND')} {_imap_folder(x.folder)}: UID {x.uid}, {plural.size_ru(x.size)}",
            f"Почтовый клиент (MUA) загружает письмо {_imap_folder(x.folder)} (например, копию "
            f"отправленного или черновик). Сервер сохраняет его и сообщает новый UID "
            f"({code('APPENDUID')}), чтобы почтовому клиенту не пришлось его искать.")


def _imap_expunge(x: f.ImapExpunge) -> tuple[str, str]:
    summary = f"{code(x.command)} {_imap_folder(x.folder)}: удалено {_imap_letters(len(x.uids))}"
    if x.command == "CLOSE":
        return summary, (f"{code('CLOSE')} удаляет письма с пометкой {flag('Deleted')} (как "
                         f"{code('EXPUNGE')}, но без ответов {code('EXPUNGE')}) и закрывает папку. "
                         f"Другим открытым сеансам сообщается ответом {code('EXPUNGE')}.")
    return summary, (f"Письма с пометкой {flag('Deleted')} теперь действительно удалены с "
                     "сервера. До этого момента их ещё можно было восстановить; всем открытым сеансам "
                     f"сообщается ответом {code('EXPUNGE')}.")


def _imap_fetch(x: f.ImapFetch) -> tuple[str, str]:
    what = listing(code(item) for item in x.items)
    asked = f" ({what})" if what else ""
    summary = f"{code(x.command)}: {_imap_letters(x.count)}{asked}"
    if x.bodies:
        return summary, (f"Почтовый клиент (MUA) скачивает содержимое {_imap_letters_gen(x.bodies)}"
                         f"{asked}. {_IMAP_KEEP}")
    return summary, (f"Почтовый клиент (MUA) читает сводные данные {_imap_letters_gen(x.count)}{asked}, "
                     f"чтобы построить список. {_IMAP_KEEP}")


def _imap_store(x: f.ImapStore) -> tuple[str, str]:
    flags = code(" ".join(x.flags)) if x.flags else "без флагов"
    return (f"{code(x.command)} {code(x.item)} {flags}: {_imap_letters(x.count)}",
            f"Почтовый клиент (MUA) меняет флаги на сервере ({flag('Seen')} — прочитано, "
            f"{flag('Flagged')} — отмечено, {flag('Deleted')} — удалить при "
            f"{code('EXPUNGE')}). Флаги хранятся на сервере, поэтому все остальные почтовые клиенты "
            "пользователя видят то же состояние.")


def _imap_copy(x: f.ImapCopy) -> tuple[str, str]:
    return (f"{code(x.command)}: {_imap_letters(x.count)} в папку {code(x.dest)}",
            f"Сервер сам копирует письма в папку {code(x.dest)}; ничего не скачивается и не "
            "загружается заново.")


def _imap_move(x: f.ImapMove) -> tuple[str, str]:
    return (f"{code(x.command)}: {_imap_letters(x.count)} в папку {code(x.dest)}",
            f"Почтовый клиент (MUA) перемещает письма в папку {code(x.dest)} (например, в Корзину или "
            "Спам). Сервер делает это за один шаг и сообщает всем сеансам, что письма ушли из папки.")


def _imap_idle(x: f.ImapIdle) -> tuple[str, str]:
    pushed = listing((code(line) for line in x.updates), " / ") or "изменение"
    return (f"IDLE: сервер сообщает {pushed}",
            "Почтовый клиент (MUA) ждёт в режиме IDLE; сервер сразу сообщает об изменении (RFC 2177), "
            "опрашивать сервер не нужно. Так новое письмо появляется в почтовом клиенте почти "
            "мгновенно.")


def _imap_error(x: f.ImapError) -> tuple[str, str]:
    return (f"Сеанс IMAP закрыт после внутренней ошибки: {code(x.error.split('(', 1)[0])}",
            "Сервер IMAP наткнулся на ошибку в собственном коде; закрыто только это соединение, "
            "остальные сеансы продолжают работать.")


_TEXTS_IMAP: dict = {
    f.ImapLogin: _imap_login, f.ImapLogout: _imap_logout, f.ImapSelect: _imap_select,
    f.ImapCreate: _imap_create, f.ImapList: _imap_list, f.ImapAppend: _imap_append,
    f.ImapExpunge: _imap_expunge, f.ImapFetch: _imap_fetch, f.ImapStore: _imap_store,
    f.ImapCopy: _imap_copy, f.ImapMove: _imap_move, f.ImapIdle: _imap_idle, f.ImapError: _imap_error,
}



# -------------------- урок ----------------------------------------------------------------

_LESSON_ACTIONS = {
    "say": lambda d: "пояснение",
    "send": lambda d: f"{d.get('sender', '')} отправляет письмо: {', '.join(d.get('to', ()))}",
    "fetch": lambda d: f"{d.get('user', '')} забирает почту по {str(d.get('protocol', '')).upper()}",
    "wait": lambda d: (f"пауза {d.get('seconds', 0):g} с" if not d.get("event")
                       else f"ждём события «{_LESSON_EVENTS.get(str(d.get('event')), d.get('event'))}»"
                       + (f" для {d['rcpt']}" if d.get("rcpt") else "")),
    "host_down": lambda d: f"{d.get('host', '')} выключается",
    "host_up": lambda d: f"{d.get('host', '')} включается",
    "set_mx": lambda d: f"меняется таблица MX домена {d.get('domain', '')}",
    "fault": lambda d: (f"неисправность {code(str(d.get('kind', '')))} на {d.get('target', '')} "
                        + ("снята" if d.get("off") else "включена")),
    "expect": lambda d: "проверка того, что произошло",
}

_LESSON_EVENTS = {"delivered": "доставлено", "bounced": "возвращено", "deferred": "отложено",
                  "retry": "повторная попытка", "relayed": "передано дальше", "quiet": "всё затихло"}


def _lesson_step(x: f.LessonStep) -> tuple[str, str]:
    detail = dict(x.detail)
    what = _LESSON_ACTIONS.get(x.action, lambda d: x.action)(detail)
    summary = f"шаг {x.index + 1} из {x.total}: {x.say_ru or what}"
    return summary, (x.say_ru or f"Урок продолжается: {what}.")


def _copies(n: int) -> str:
    return plural.ru(n, "копия", "копии", "копий")


_LESSON_WANTED = {
    "delivered": lambda w: f"{w.get('rcpt')} получает письмо"
                           + (f" (ровно {_copies(w['count'])})" if w.get("count") is not None else ""),
    "bounced": lambda w: f"письмо для {w.get('rcpt')} возвращается отправителю"
                         + (f" со статусом {code(w['status'])}" if w.get("status") else ""),
    "deferred": lambda w: f"доставка письма для {w.get('rcpt')} откладывается"
                          + (", а потом оно доставляется" if w.get("then_delivered") else ""),
    "via": lambda w: f"{w.get('host')} принимает письмо" + (f" для {w['rcpt']}" if w.get("rcpt") else ""),
    "mailbox": lambda w: f"в ящике {w.get('rcpt')} {plural.ru_form(w.get('count') or 0, 'лежит', 'лежат', 'лежат')} "
                         f"{plural.ru(w.get('count') or 0, 'письмо', 'письма', 'писем')}",
    "reply": lambda w: f"сервер отвечает {code(str(w.get('code')))}"
                       + (f" на {code(w['command'])}" if w.get("command") else "")
                       + (f" ({w['host']})" if w.get("host") else ""),
}


def _lesson_found(found: dict) -> str:
    parts = []
    if "delivered" in found:
        parts.append(f"доставлено {plural.ru(found['delivered'], 'раз', 'раза', 'раз')}")
    if found.get("bounced"):
        parts.append(f"возврат со статусом {codes(found['bounced'])}")
    elif "bounced" in found:
        parts.append("возврата не было")
    if "deferred" in found:
        parts.append(f"отложено {plural.ru(found['deferred'], 'раз', 'раза', 'раз')}")
    if "via" in found:
        parts.append(f"приняли: {', '.join(found['via'])}" if found["via"] else "ни один MX не принял")
    if "messages" in found:
        parts.append(f"в ящике {plural.ru(found['messages'], 'письмо', 'письма', 'писем')}")
    if "replies" in found:
        parts.append(f"ответы: {codes(found['replies'])}" if found["replies"] else "такого ответа не было")
    return "; ".join(parts) or "ничего"


def _lesson_expect(x: f.LessonExpectation) -> tuple[str, str]:
    wanted = _LESSON_WANTED.get(x.expect, lambda w: x.expect)(dict(x.wanted))
    found = _lesson_found(dict(x.found))
    if x.passed:
        return f"как и ожидалось: {wanted}", f"Урок проверил, что {wanted}, — так и есть ({found})."
    return (f"не так, как ожидалось: {wanted}",
            f"Шаг {x.index + 1} ({code(x.file)}, строка {x.line}) ожидал, что {wanted}. Что произошло: {found}.")


def _lesson_error(x: f.LessonStepFailed) -> tuple[str, str]:
    return (f"шаг {x.index + 1} ({x.action}) выполнить не удалось: {reason('ru', x.reason)}",
            f"Урок остановился на шаге {x.index + 1} ({code(x.file)}, строка {x.line}): {reason('ru', x.reason)}.")


def _lesson_end(x: f.LessonEnded) -> tuple[str, str]:
    if x.failed_index < 0:
        return (f"урок {x.lesson} окончен: {plural.ru(x.passed, 'проверка пройдена', 'проверки пройдены', 'проверок пройдено')}",
                f"Все шаги урока ({x.total}) выполнены, и все проверки пройдены.")
    return (f"урок {x.lesson} остановился на шаге {x.failed_index + 1}",
            f"Выполнено шагов: {x.done} из {x.total}; шаг {x.failed_index + 1} не прошёл.")


_TEXTS_LESSON: dict = {f.LessonStep: _lesson_step, f.LessonExpectation: _lesson_expect,
                       f.LessonStepFailed: _lesson_error, f.LessonEnded: _lesson_end}

_REASONS_LESSON: dict = {
    f.StepReason.CONNECT: lambda r: f"по адресу {code(r['address'])} никто не ответил ({code(r['error'])})",
    f.StepReason.LOGIN: lambda r: f"сервер не пустил {r['user']} ({code(r['reply'])})",
    f.StepReason.PROTOCOL: lambda r: f"сервер ответил {code(r['reply'])}",
    f.StepReason.TIMEOUT: lambda r: f"этого не случилось за {r['seconds']:g} с",
    f.StepReason.UNSUPPORTED: lambda r: f"этот мир пока не умеет {code(r['action'])}",
    f.StepReason.ERROR: lambda r: f"ошибка: {code(r['error'])}",
}


# -------------------- ui --------------------------------------------------------------------

_UI_UI: dict = {
    "role.teacher": "Преподаватель",
    "role.viewer": "Просмотр",
    "role.viewer.hint": "Управлять симуляцией может только преподаватель.",
    "lang.label": "Язык",
    "noworld": "Почтовый мир не запущен.",

    # the step gate
    "gate.controls": "Пуск, пауза и шаги",
    "gate.play": "Пуск",
    "gate.pause": "Пауза",
    "gate.step": "Шаг",
    "gate.step.hint": "Выпустить ровно один шаг (→ или `S`)",
    "gate.speed": "Скорость",
    "gate.speed.0": "Без пауз",
    "gate.speed.0.5": "0,5 с на шаг",
    "gate.speed.1": "1 с на шаг",
    "gate.speed.2": "2 с на шаг",
    "gate.speed.4": "4 с на шаг",
    "gate.running": "Работает",
    "gate.paused": "Пауза",
    "gate.waiting.more": "(и ещё {n})",
    "gate.waiting.none": "Ничего не ждёт: следующий шаг остановится здесь.",
    "gate.by": "Шагать",
    "gate.by.hop": "по шагам",
    "gate.by.line": "по строкам SMTP",
    "gate.by.hint": "Выпускать целый шаг или каждую строку диалога SMTP",

    # looking back
    "review.controls": "По шагам через то, что произошло",
    "review.back": "На шаг назад (←)",
    "review.forward": "На шаг вперёд (→)",
    "review.live": "Сейчас",
    "review.live.hint": "Вернуться к тому, что происходит сейчас (`End`)",
    "review.banner": "Просмотр прошлого: шаг {pos} из {total}. Схема показывает мир в тот момент.",
    "review.position": "{pos} / {total}",
    "review.livepos": "{total} {total#шаг|шага|шагов}",

    # the world drawer
    "world.button": "Мир",
    "world.title": "Изменить мир",
    "world.close": "Закрыть",
    "world.hosts": "Серверы",
    "world.hosts.hint": "Выключенный сервер не принимает соединения: почта ждёт или идёт на другой MX.",
    "world.up": "Работает",
    "world.down": "Выключен",
    "world.takeDown": "Выключить",
    "world.bringUp": "Включить",
    "world.mx": "Записи MX",
    "world.mx.hint": "Сначала пробуется сервер с наименьшим приоритетом MX: MX 10 раньше, чем MX 20. "
                     "Изменения действуют со следующего запроса DNS.",
    "world.mx.preference": "Приоритет MX",
    "world.mx.host": "Почтовый сервер",
    "world.mx.null": ". (нулевой MX: почты нет)",
    "world.mx.add": "Добавить запись",
    "world.mx.remove": "Удалить",
    "world.mx.save": "Сохранить таблицу MX",
    "world.mx.none": "Записей MX нет: используется адрес самого домена (неявный MX).",
    "world.mx.saved": "Таблица MX домена {domain} сохранена.",
    "world.flush": "Повторить все очереди сейчас",
    "world.flushed": "Сейчас будет повторена отправка {n} {n#письма|писем|писем} из очередей.",

    # sending a test message
    "send.title": "Отправить тестовое письмо",
    "send.from": "От",
    "send.to": "Кому",
    "send.subject": "Тема",
    "send.body": "Текст",
    "send.submit": "Отправить",
    "send.defaultSubject": "Привет из класса",
    "send.defaultBody": "Привет! Это письмо проходит через песочницу.",
    "send.ok": "Отправлено: MSA ответил `{reply}`",
    "send.pending": "Передано. MSA ответит, когда шаг будет выпущен (пошаговый режим).",

    # the clients drawer
    "clients.button": "Клиенты",
    "clients.button.hint": "Настройки для `Thunderbird`, `mutt`, `mbsync`, `fetchmail`, `curl`",
    "clients.title": "Подключить почтовый клиент",
    "clients.intro": "Направьте `Thunderbird`, `mutt`, `mbsync`, `fetchmail` или `curl` на песочницу. "
                     "Логин — всегда полный адрес, пароль — из песочницы.",
    "clients.accounts": "Учётные записи",
    "clients.login": "Логин",
    "clients.password": "Пароль",
    "clients.passwordHidden": "Пароли видны только на экране преподавателя.",
    "clients.autoconfig": "Автонастройка",
    "clients.autoconfig.hint": "Документ автонастройки `Thunderbird` для домена учётной записи",
    "clients.autoconfigDoc": "Документ автонастройки домена {domain}",
    "clients.showCommands": "Показать команды для этой учётной записи",
    "clients.commandsFor": "Команды",
    "clients.account": "Для учётной записи",
    "clients.servers": "Серверы (общая точка входа)",
    "clients.service": "Служба",
    "clients.server": "Сервер",
    "clients.starttls": "Порт · `STARTTLS`",
    "clients.plain": "Порт · без шифрования",
    "clients.ssl": "Порт · `SSL/TLS`",
    "clients.what.imap": "чтение, письма остаются на сервере",
    "clients.what.pop3": "скачивание (и удаление)",
    "clients.what.smtp": "отправка (`submission`)",
    "clients.servers.hint": "Аутентификация: обычный пароль. Порты `STARTTLS` принимают вход и без "
                            "шифрования — тогда пароль виден в диалоге.",
    "clients.servers.hintNoTls": "В этом запуске TLS выключен: порты работают только без шифрования.",
    "clients.fingerprint": "Сертификат (самоподписанный, для `localhost`) · отпечаток `SHA-256`",
    "clients.fingerprint.hint": "Почтовый клиент один раз попросит принять этот сертификат: сравните "
                                "отпечаток, прежде чем подтвердить.",
    "clients.noTls": "TLS выключен: сертификата нет.",
    "clients.commands": "Командная строка",
    "clients.cmd.curl": "`curl` — список писем в папке `INBOX` по IMAP",
    "clients.cmd.swaks": "`swaks` — отправить письмо через `submission`",
    "clients.cmd.prompt": "Если пароля нет в команде, `curl` и `swaks` спросят его.",
    "clients.copy": "Копировать",
    "clients.copied": "Скопировано ✓",
    "clients.selected": "Выделено: `Ctrl+C`",
    "clients.tb.title": "`Thunderbird`: всё заполнится само",
    "clients.tb.step1": "Настройки → Основные → Редактор настроек… (внизу страницы), затем задайте параметр:",
    "clients.tb.step2": "Затем добавьте почтовую учётную запись с адресом и паролем: мастер сам найдёт серверы "
                        "и порты.",
    "clients.tb.documents": "Документы автонастройки:",
    "clients.loopbackOnly": "Почтовые серверы слушают только на компьютере преподавателя (127.0.0.1): эти "
                            "настройки работают там, а не с другого компьютера.",

    # the timeline
    "timeline.title": "Хронология",
    "timeline.allMessages": "Все письма",
    "timeline.allProtocols": "Все протоколы",
    "timeline.filter.message": "Письмо",
    "timeline.filter.protocol": "Протокол",
    "timeline.empty": "Пока ничего не произошло. Отправьте письмо, чтобы начать.",
    "timeline.count": "{shown} из {total} {total#шага|шагов|шагов}",
    "timeline.earlier": "Ещё {n} {n#ранний шаг здесь не показан|ранних шага здесь не показаны|ранних шагов "
                        "здесь не показаны}: нажмите ← или `Home`, или выберите одно письмо.",

    # the details of a hop
    "details.empty": "Выберите шаг в хронологии (или нажмите ←), чтобы увидеть диалог, объяснение и письмо.",
    "details.transcript": "Диалог",
    "details.message": "Письмо",
    "details.dns": "Вопрос и ответ DNS",
    "details.noTranscript": "На этом шаге нет сетевого диалога.",
    "details.client": "клиент",
    "details.server": "сервер",
    "details.note": "заметка",
    "details.follow": "Следить за этим письмом",
    "details.unfollow": "Показать все письма",
    "details.trace": "письмо",
    "transcript.cut": "[ещё {n} {n#строка|строки|строк} письма]",
    "dns.question": "Вопрос",
    "dns.answer": "Ответ",
    "dns.chosen": "пробуется первым",
    "dns.then": "следующий",
    "dns.noAnswer": "записей нет",
    "dns.rcode": "Код результата",

    # the message as it was at a hop
    "message.envelope": "Конверт (его читают серверы)",
    "message.headers": "Заголовки (их видит читатель)",
    "message.mailFrom": "`MAIL FROM`",
    "message.rcptTo": "`RCPT TO`",
    "message.from": "От (`From:`)",
    "message.to": "Кому (`To:`)",
    "message.subject": "Тема (`Subject:`)",
    "message.id": "`Message-ID:`",
    "message.date": "Дата (`Date:`)",
    "message.returnPath": "`Return-Path:`",
    "message.deliveredTo": "`Delivered-To:`",
    "message.received": "Цепочка `Received:` (новые сверху — каждый сервер добавляет строку)",
    "message.receivedNew": "добавлено на этом шаге",
    "message.none": "На этом шаге письма нет.",
    "message.asSeen": "Каким оно было на шаге {seq}.",
    "message.open": "Открыть доставленное письмо",
    "message.body": "Текст письма",
    "message.html": "Часть письма в формате `HTML` (в закрытой рамке: без скриптов и сети)",
    "message.gone": "Этого письма больше нет в ящике.",
    "message.attachments": "Вложения",
    "message.attachment": "{name} ({type}, {size})",

    # sizes (the rules of plural.size_ru)
    "size.bytes": "{n} {n#байт|байта|байт}",
    "size.kb": "{x} КБ",
    "size.mb": "{x} МБ",
    "size.point": ",",

    # the diagram
    "diagram.label": "Почтовый мир: кто кому передаёт письмо",
    "node.mua": "почтовый клиент (MUA)",
    "node.mua.short": "почтовый клиент",
    "node.msa": "сервер отправки (MSA и MTA)",
    "node.msa.short": "MSA и MTA",
    "node.mx": "сервер приёма (MX)",
    "node.backup-mx": "резервный MX",
    "node.mda": "агент доставки (MDA)",
    "node.mda.short": "агент доставки",
    "node.mailbox": "почтовый ящик",
    "node.mailbox.count": "ящик · {n}",
    "node.dns": "сервер имён",
    "node.front": "общая точка входа",
    "node.front.caption": "127.0.0.1",
    "node.outside": "внешняя программа",
    "node.outside.caption": "не из песочницы",
    "node.down": "ВЫКЛ",
    "node.queue": "в очереди: {n}",
    "node.notInMx": "нет в таблице MX",
    "node.mxPref": "MX {p}",
    "node.backupPref": "резервный MX {p}",
    "col.mua": "Почтовые клиенты (MUA)",
    "col.msa": "Отправка (MSA и MTA)",
    "col.net": "DNS",
    "col.mx": "Приём (MX)",
    "col.mda": "Доставка (MDA)",
    "col.mailbox": "Ящики",
    "host.title": "Сервер {name}",
    "host.address": "Адрес",
    "host.role": "Роль",
    "host.state": "Состояние",
    "host.queue": "Писем в его очереди",
    "mailbox.title": "Почтовый ящик {address}",
    "mailbox.empty": "Ящик пуст.",
    "mailbox.loading": "Загрузка…",

    # the legend
    "legend.label": "Что значат цвета и значки",
    "legend.ok": "принято",
    "legend.deferred": "отложено (повтор)",
    "legend.bounced": "возврат",
    "legend.failed": "отказ или ошибка",
    "legend.down": "сервер выключен",
    "legend.pop3": "POP3: скачать и удалить",
    "legend.imap": "IMAP: остаётся на сервере",
    "keys.help": "Клавиши: Пробел — пуск и пауза · ← → по шагам · `S` — шаг · `End` — сейчас",

    # a hop's status and kind
    "status.ok": "Успех",
    "status.deferred": "Отложено",
    "status.bounced": "Возврат",
    "status.failed": "Ошибка",
    "status.info": "Сведения",
    "protocol.WORLD": "Мир",
    "protocol.MAILDIR": "Maildir",
    "protocol.GATE": "Шаги",
    "kind.smtp.session": "диалог SMTP",
    "kind.smtp.attempt": "попытка соединения",
    "kind.smtp.line": "SMTP построчно",
    "kind.dns.query": "запрос DNS",
    "kind.dns.served": "вопрос к DNS извне",
    "kind.queue.defer": "остаётся в очереди",
    "kind.queue.relay": "передано дальше: покидает очередь",
    "kind.queue.bounce": "возврат письма",
    "kind.queue.quarantine": "карантин: запись очереди не удаётся обработать",
    "kind.queue.dsn": "уведомление о недоставке",
    "kind.queue.retry": "пора повторить",
    "kind.mda.deliver": "положено в ящик",
    "kind.world.host": "сервер включён или выключен",
    "kind.world.mx": "таблица MX изменена",
    "kind.gate.waiting": "ждёт разрешения",
    "kind.pop3.login": "вход POP3",
    "kind.pop3.list": "список POP3",
    "kind.pop3.retr": "скачивание POP3",
    "kind.pop3.dele": "удаление POP3",
    "kind.pop3.quit": "конец сеанса POP3",
    "kind.pop3.error": "ошибка POP3",
    "kind.imap.login": "вход IMAP",
    "kind.imap.list": "список папок IMAP",
    "kind.imap.select": "IMAP открывает папку",
    "kind.imap.fetch": "чтение IMAP (копия остаётся)",
    "kind.imap.store": "флаги IMAP",
    "kind.imap.expunge": "окончательное удаление IMAP",
    "kind.imap.idle": "IMAP ждёт новостей",
    "kind.imap.append": "IMAP сохраняет копию",
    "kind.imap.copy": "копирование IMAP",
    "kind.imap.move": "перемещение IMAP",
    "kind.imap.create": "новая папка IMAP",
    "kind.imap.logout": "выход IMAP",
    "kind.imap.error": "ошибка IMAP",
    "retrieval.pop3": "POP3 скачивает копию; сервер удаляет письмо только после `DELE` и затем `QUIT`",
    "retrieval.pop3-delete": "POP3 скачивает письмо и удаляет его с сервера",
    "retrieval.imap": "IMAP показывает письмо; оригинал остаётся на сервере",
    "retrieval.imap-expunge": "IMAP удаляет с сервера письма с флагом `\\Deleted` (`EXPUNGE`)",

    # notices
    "notice.close": "Закрыть",
    "notice.disconnected": "Связь с симулятором потеряна — переподключение…",
    "notice.reconnected": "Связь восстановлена.",
    "notice.error": "Ошибка: {message}",
    "notice.refused": "Живой просмотр отказал этой странице: {message}",

    # the glossary: the seed article's terms
    "glossary.button": "Термины",
    "glossary.button.hint": "Что значат MUA, MSA, MTA, MDA, MX, SMTP, POP3 и IMAP",
    "glossary.title": "Термины почтового мира",
    "glossary.sender": "Сервер отправки домена (здесь {host}) — это сразу двое: MSA отправителя, который "
                       "принимает письмо от почтового клиента (MUA) после входа, и его агент передачи почты "
                       "(MTA), который затем спрашивает у DNS записи MX получателя и передаёт письмо дальше "
                       "по SMTP.",
    "term.MUA.full": "почтовый пользовательский агент (`Mail User Agent`)",
    "term.MUA.text": "почтовый клиент: программа, в которой человек пишет и читает письма (`Thunderbird`, "
                     "`mutt`, страница веб-почты).",
    "term.MSA.full": "агент отправки почты (`Mail Submission Agent`)",
    "term.MSA.text": "принимает новое письмо от почтовых клиентов своих пользователей (порт 587, со входом) "
                     "и ставит его в очередь.",
    "term.MTA.full": "агент передачи почты (`Mail Transfer Agent`)",
    "term.MTA.text": "передаёт почту от сервера к серверу по SMTP: агент передачи почты отправителя "
                     "подключается к MX получателя.",
    "term.MDA.full": "агент доставки почты (`Mail Delivery Agent`)",
    "term.MDA.text": "на сервере получателя принимает письмо от местного MTA и записывает его в почтовый "
                     "ящик пользователя (каталог Maildir).",
    "term.MX.full": "запись почтового обменника (`Mail Exchanger`)",
    "term.MX.text": "запись DNS, которая называет почтовые серверы домена; выигрывает наименьший приоритет "
                    "MX: MX 10 пробуется раньше, чем MX 20.",
    "term.SMTP.full": "простой протокол передачи почты (`Simple Mail Transfer Protocol`)",
    "term.SMTP.text": "протокол отправки: от почтового клиента к его MSA и от одного MTA к другому.",
    "term.POP3.full": "протокол почтового отделения, версия 3 (`Post Office Protocol`)",
    "term.POP3.text": "почтовый клиент скачивает письма из ящика и обычно удаляет их на сервере.",
    "term.IMAP.full": "протокол доступа к интернет-сообщениям (`Internet Message Access Protocol`)",
    "term.IMAP.text": "почтовый клиент читает письма там, где они лежат: они остаются в ящике на сервере, "
                      "в папках.",

    # what reply codes mean (SMTP: RFC 5321 §4.2, RFC 4954, RFC 3463; DNS: RFC 1035 §4.1.1;
    # POP3: RFC 1939; IMAP: RFC 9051 §7.1)
    "code.smtp.220": "сервер готов",
    "code.smtp.221": "до свидания: сервер закрывает соединение",
    "code.smtp.235": "вход выполнен",
    "code.smtp.250": "выполнено",
    "code.smtp.251": "пользователь не местный; сервер перешлёт письмо",
    "code.smtp.334": "сервер ждёт данные входа (`base64`)",
    "code.smtp.354": "передавайте письмо, в конце — строка с одной точкой",
    "code.smtp.421": "служба сейчас недоступна: попробуйте позже",
    "code.smtp.450": "ящик занят или недоступен: попробуйте позже",
    "code.smtp.451": "локальная ошибка: попробуйте позже",
    "code.smtp.452": "не хватает места или слишком много получателей: попробуйте позже",
    "code.smtp.500": "команда не распознана",
    "code.smtp.501": "ошибка в аргументах команды",
    "code.smtp.502": "команда не реализована",
    "code.smtp.503": "неверный порядок команд",
    "code.smtp.530": "сначала войдите (AUTH)",
    "code.smtp.535": "неверный логин или пароль",
    "code.smtp.550": "отказ: нет такого ящика, или это запрещено",
    "code.smtp.551": "пользователь не местный; отправьте в другое место",
    "code.smtp.552": "письмо слишком большое для ящика или сервера: повторять не нужно",
    "code.smtp.553": "такой адрес не допускается",
    "code.smtp.554": "транзакция не удалась",
    "code.smtp.555": "параметры `MAIL FROM` или `RCPT TO` не распознаны",
    "code.class.2": "успех",
    "code.class.3": "продолжайте",
    "code.class.4": "временная ошибка: попробуйте позже",
    "code.class.5": "окончательная ошибка: не повторять",
    "code.enh.2.0.0": "успех",
    "code.enh.2.1.0": "отправитель принят",
    "code.enh.2.1.5": "получатель принят",
    "code.enh.2.7.0": "аутентификация успешна",
    "code.enh.4.4.1": "хост не отвечает",
    "code.enh.4.4.7": "время доставки истекло",
    "code.enh.5.1.1": "нет такого пользователя",
    "code.enh.5.1.10": "домен не принимает почту (нулевой MX)",
    "code.enh.5.1.2": "неверный домен назначения",
    "code.enh.5.4.6": "петля маршрутизации",
    "code.enh.5.7.0": "нужна аутентификация",
    "code.enh.5.7.1": "ретрансляция (relay) запрещена",
    "code.enh.5.7.8": "неверные учётные данные",
    "code.dns.NOERROR": "имя существует; вот ответ",
    "code.dns.NXDOMAIN": "такого домена нет",
    "code.dns.SERVFAIL": "сбой сервера: попробуйте позже",
    "code.dns.REFUSED": "отказ: вне зон песочницы",
    "code.dns.FORMERR": "вопрос составлен неверно",
    "code.dns.NOTIMP": "такой вопрос не поддерживается",
    "code.pop3.+OK": "POP3: да, выполнено",
    "code.pop3.-ERR": "POP3: ошибка",
    "code.imap.OK": "IMAP: выполнено",
    "code.imap.NO": "IMAP: отказ",
    "code.imap.BAD": "IMAP: неверная команда",
    "code.imap.BYE": "IMAP: сервер закрывает соединение",
    "code.imap.PREAUTH": "IMAP: вход уже выполнен",
}


TEXTS: dict = {**_TEXTS_WORLD, **_TEXTS_SMTP, **_TEXTS_DNS, **_TEXTS_QUEUE, **_TEXTS_POP3, **_TEXTS_IMAP,
                 **_TEXTS_LESSON}
REASONS: dict = {**_REASONS_SMTP, **_REASONS_DNS, **_REASONS_QUEUE, **_REASONS_LESSON}
UI: dict[str, str] = {**_UI_UI}
