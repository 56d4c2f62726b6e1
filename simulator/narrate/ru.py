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
from ..nodes import CATCH_ADDRESS


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


def _world_user(x: f.UserChanged) -> tuple[str, str]:
    if x.joined:
        return (f"{x.name} присоединяется к классу как {x.address}",
                f"{x.name} присоединяется к классу: в мире появился пользователь {x.address} с ящиком на "
                f"почтовом сервере домена и собственным почтовым клиентом. Почта на этот адрес "
                f"принимается и доставляется как всем, а прочитать её может только {x.name}.")
    return (f"{x.address} больше не в классе",
            f"Преподаватель удалил {x.address}. С этого момента вход с этим адресом не удаётся, а почта "
            f"на него отклоняется с кодом {code('550 5.1.1')} (нет такого пользователя), как почта на "
            f"любой несуществующий адрес.")


def _world_who(host: str) -> str:
    """A host by name; "" is the front door, which has none."""
    return host or "общая точка входа"


_WORLD_STEPS = {
    f.HopStep.SUBMIT: lambda x: (f"приложение (отправитель {x.user}) передаёт письмо серверу {_world_who(x.host)}"
                                 if x.src == "app" else
                                 f"почтовый клиент (MUA) {x.user} передаёт письмо серверу {_world_who(x.host)}"),
    f.HopStep.DNS_QUERY: lambda x: f"{_world_who(x.host)} спрашивает у DNS MX-записи домена {x.domain}",
    f.HopStep.CONNECT: lambda x: f"{_world_who(x.host)} подключается к {x.target} ({x.address})",
    f.HopStep.DELIVER: lambda x: f"агент доставки (MDA) сервера {_world_who(x.host)} кладёт письмо в ящик {x.rcpt}",
    f.HopStep.CATCH: lambda x: f"{_world_who(x.host)} передаёт письмо для {x.rcpt} во внешний мир",
    f.HopStep.REPLY: lambda x: f"{_world_who(x.host)} отвечает: {code(x.reply)}",
}


def _world_next_hop(x: f.NextHop) -> tuple[str, str]:
    what = _WORLD_STEPS[x.step](x)
    return (f"Следующий шаг ждёт разрешения: {what}",
            "Мир на паузе: этот шаг произойдёт, когда преподаватель нажмёт «Шаг» (или «Пуск»). "
            "Настоящие серверы и клиенты в это время действительно ждут: для них сервер просто "
            "медленный.")


_TEXTS_WORLD: dict = {f.HostStateChanged: _world_host_state, f.MxTableChanged: _world_mx_changed, f.NextHop: _world_next_hop,
                      f.UserChanged: _world_user}


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
    if x.src == "app":
        return (f"программа (приложение) с адреса {x.peer}" if x.peer and x.peer != "?"
                else "программа (приложение)"), "f"
    if x.peer and x.peer != "?":
        return f"программа с адреса {x.peer}", "f"
    return "программа на этом компьютере", "f"


def _smtp_server(x: f.SmtpSession) -> dict[str, str]:
    """The server in the cases the texts need; the front door has no host name of its own."""
    if x.host and x.host != "front":
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
    if x.src == "app":
        return (f"{who} передаёт письмо {server['dat']} (MSA) через порт приложений",
                f"{_smtp_cap(who)} (её почтовый модуль: {code('Django')}, {code('smtplib')}, "
                f"{code('Nodemailer')}...) подключилась к порту приложений{f' {x.port}' if x.port else ''}, "
                f"который принимает почту без {code('AUTH')} и от любого отправителя, как локальная "
                f"песочница для разработчиков. Письмо{_smtp_for(x.rcpts)} попало "
                f"к {server['dat']}, MSA домена отправителя (или первому MSA песочницы, если домена "
                f"отправителя в ней нет); он записал письмо в свою очередь на диск и только после этого "
                f"ответил {code('250')}: теперь за письмо отвечает {server['nom']}{queued}.")
    if x.via:
        return (f"{who} передаёт письмо {server['dat']} (MSA) через общую точку входа",
                f"{_smtp_cap(who)} {_smtp_v(g, 'подключился', 'подключилась')} к общей точке входа"
                f"{_smtp_port(x)} (единый адрес для почтовых клиентов), {_smtp_v(g, 'вошёл', 'вошла')} "
                f"командой {code('AUTH')}, и общая точка входа передала сеанс {server['dat']}, MSA домена "
                f"пользователя; он принял письмо{_smtp_for(x.rcpts)}. MSA записал письмо в свою очередь на "
                f"диск и только после этого ответил {code('250')}: теперь за письмо отвечает "
                f"{server['nom']}{queued}.")
    return (f"{who} передаёт письмо {server['dat']} (MSA)",
            f"{_smtp_cap(who)} {_smtp_v(g, 'подключился', 'подключилась')} к {server['dat']} "
            f"(MSA, сервер отправки){_smtp_port(x)}, {_smtp_v(g, 'вошёл', 'вошла')} командой "
            f"{code('AUTH')} и {_smtp_v(g, 'передал', 'передала')} письмо{_smtp_for(x.rcpts)}. MSA записал "
            f"письмо в свою очередь на диск и только после этого ответил {code('250')}: теперь за письмо "
            f"отвечает {server['nom']}{queued}.")


def _smtp_resend(x: f.SmtpSession) -> str:
    """What a server did with a resend it recognised (stored nothing), as the explanation's end."""
    server = _smtp_server(x)
    return (f"{_smtp_cap(server['nom'])} {_smtp_v(server['g'], 'узнал', 'узнала')} его по "
            f"{code('Mailflow-Relay-Id')}: прошлая попытка уже донесла это письмо до этого мира (его "
            f"принял сервер или уже записал в почтовый ящик), но отправитель так и не записал себе "
            f"{code('250')}: он упал или перестал ждать ответа, не успев этого сделать, или принимающий "
            f"сервер остановили до того, как он ответил. Поэтому {server['nom']} "
            f"{_smtp_v(server['g'], 'ответил', 'ответила')} {code('250')}, не сохраняя письмо второй раз: "
            f"в почтовый ящик больше ничего не попадёт.")


def _smtp_relayed(x: f.SmtpSession) -> tuple[str, str]:
    who, g = _smtp_who(x)
    server = _smtp_server(x)
    if x.resend:
        reused = (f" по уже открытому соединению (без нового приветствия, {code('EHLO')} и "
                  f"{code('STARTTLS')})" if x.reused else "")
        return (f"{who} снова передаёт письмо {server['dat']}: оно там уже есть, второй копии не будет",
                f"{_smtp_cap(who)} ещё раз {_smtp_v(g, 'отправил', 'отправила')} письмо{_smtp_for(x.rcpts)} "
                f"{server['dat']}{reused}. " + _smtp_resend(x))
    if not x.final:
        reused = (f" Письмо пошло по уже открытому соединению: без нового приветствия, {code('EHLO')} "
                  f"и {code('STARTTLS')}." if x.reused else "")
        return (f"{who} передаёт письмо {server['dat']} (резервный MX передаст его дальше)",
                f"{_smtp_cap(who)} {_smtp_v(g, 'передал', 'передала')} письмо{_smtp_for(x.rcpts)} "
                f"{server['dat']}, резервному MX. У резервного MX нет почтовых ящиков: он держит письмо "
                f"в своей очереди и передаст его основному MX, когда тот станет доступен.{reused}")
    if x.reused:
        return (f"{who} передаёт письмо {server['dat']}",
                f"{_smtp_cap(who)} {_smtp_v(g, 'передал', 'передала')} письмо{_smtp_for(x.rcpts)} "
                f"{server['dat']}, MX домена получателя{_smtp_port(x)} (MX-порт песочницы), по уже "
                f"открытому соединению: без нового приветствия, {code('EHLO')} и {code('STARTTLS')}. "
                f"Транзакция сразу началась с {code('MAIL FROM')} (отправитель конверта), затем "
                f"{code('RCPT TO')} (получатели конверта), {code('DATA')}. {_smtp_kept(x, server)}")
    return (f"{who} передаёт письмо {server['dat']}",
            f"{_smtp_cap(who)} {_smtp_v(g, 'подключился', 'подключилась')} к {server['dat']}, MX домена "
            f"получателя{_smtp_port(x)} (MX-порт песочницы), и {_smtp_v(g, 'передал', 'передала')} "
            f"письмо{_smtp_for(x.rcpts)} по SMTP: {code('EHLO')}, {code('MAIL FROM')} (отправитель "
            f"конверта), {code('RCPT TO')} (получатели конверта), {code('DATA')}. {_smtp_kept(x, server)}")


def _smtp_kept(x: f.SmtpSession, server: dict[str, str]) -> str:
    """Что последний MX сделал с письмом до ответа 250: поставил в очередь для MDA или (``direct``)
    сначала отдал агенту доставки, и тот положил письмо в ящик."""
    answered = _smtp_v(server["g"], "ответил", "ответила")
    if x.direct:
        return (f"{_smtp_cap(server['nom'])} не {_smtp_v(server['g'], 'поставил', 'поставила')} письмо в "
                f"очередь: агент доставки (MDA) сразу положил его в почтовый ящик, и только после этого "
                f"{server['nom']} {answered} {code('250')}. Очередь не понадобилась (неисправностей нет, "
                f"урок не держит шаг), поэтому {code('250')} уже значит, что письмо лежит в ящике.")
    saved = _smtp_v(server["g"], "сохранил", "сохранила")
    return (f"{_smtp_cap(server['nom'])} {saved} письмо и {answered} {code('250')}; теперь агент доставки "
            f"(MDA) положит его в почтовый ящик.")


def _smtp_by_hand(x: f.SmtpSession) -> tuple[str, str]:
    who, g = _smtp_who(x)
    server = _smtp_server(x)
    return (f"{who} → {server['nom']}: письмо принято по SMTP",
            f"{_smtp_cap(who)} (вручную, {code('swaks')} или {code('nc')}) напрямую "
            f"{_smtp_v(g, 'поговорил', 'поговорила')} по SMTP с {server['ins']}{_smtp_port(x)}, и сервер "
            f"принял письмо." + (f" {_smtp_kept(x, server)}" if x.direct else ""))


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


def _smtp_secret(x: f.SmtpSession) -> str:
    """One sentence on what a listener on the wire read of the AUTH lines ("" when there were none)."""
    if not x.credentials:
        return ""
    if any(c.hidden_by is f.TlsMode.NONE for c in x.credentials):
        return (f" Строки {code('AUTH')} несли логин и пароль, лишь закодированные в {code('base64')}: любой, "
                f"кто слушает сеть, их раскодирует. {code('STARTTLS')} или порт с TLS скрыли бы пароль.")
    return " Вход прошёл по сети под защитой TLS: подслушивающий видит только шифр, а не пароль."


def _smtp_session(x: f.SmtpSession) -> tuple[str, str]:
    summary, explain = _SMTP_OUTCOMES[x.outcome](x)
    return summary, explain + _smtp_secret(x)


def _smtp_line_text(side: str, text: str) -> str:
    if side == _SMTP_CUT:
        count = int(text) if text.isdigit() else 0
        return f"[ещё {plural.ru(count, 'строка', 'строки', 'строк')} письма]"
    return code(text)


def _smtp_line(x: f.SmtpLine) -> tuple[str, str]:
    shown = [_smtp_line_text(side, text) for side, text in x.transcript[-4:]]
    summary = " / ".join(shown) if shown else "диалог SMTP"
    return (summary,
            "Пошаговый режим по строкам: SMTP-диалог идёт, и каждый ответ сервера ждёт, пока "
            "преподаватель нажмёт «Шаг», поэтому разговор можно прочитать по одной строке. Строки, "
            "сказанные до сих пор, — в диалоге ниже; шаг завершится последним ответом сервера.")


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
    if x.resend:
        return (f"У {x.target} это письмо уже есть: оно покидает очередь {x.host}",
                f"{x.host} отправил письмо{_queue_for(x.rcpts)} ещё раз: прошлая попытка уже донесла "
                f"его до этого мира, но {x.host} так и не записал себе {code('250')} (упал, не успев, "
                f"перестал ждать ответа, или принимающий сервер остановили до того, как он ответил). "
                f"Серверы этого мира узнают письмо по "
                f"{code('Mailflow-Relay-Id')}, поэтому {x.target} ответил {code('250')}, не ставя его в "
                f"очередь второй раз, и {x.host} удаляет письмо из своей очереди.")
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
    if x.dropped and x.kept:
        return (f"{x.host} прекращает попытки для {rcpts}: {why} (на уведомление не отвечают "
                f"уведомлением: оно сохранено в ящике {x.kept})",
                f"Письмо для {rcpts} доставить нельзя ({why}). Это само по себе уведомление о "
                f"недоставке (пустой отправитель конверта), а на уведомление не отвечают уведомлением, "
                f"поэтому обратно ничего не уходит. {x.host} сохраняет его целиком в ящике внешнего мира "
                f"{x.kept}, как настоящий сервер отдаёт такое двойное уведомление администратору почты "
                f"({code('postmaster')}): прочитайте его там.")
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
            f"исходным письмом во вложении.")


def _queue_quarantined(x: f.Quarantined) -> tuple[str, str]:
    return (f"{x.host} откладывает письмо {code(x.queue_id)} в карантин после внутренней ошибки",
            f"{x.host} не смог обработать письмо {code(x.queue_id)} из-за внутренней ошибки "
            f"({code(x.error)}) дольше срока жизни очереди. Он отложил письмо в папку карантина своей "
            f"очереди на диске, чтобы ничего не потерять, и прекратил попытки.")


def _queue_delivered(x: f.MdaDelivered) -> tuple[str, str]:
    if x.mailbox == CATCH_ADDRESS:
        return (f"внешний мир сохраняет письмо для {x.rcpt} в своём ящике {x.mailbox}",
                f"Ничто не покидает песочницу: внешний мир записал письмо для {x.rcpt} целиком "
                f"({plural.size_ru(x.size)}) в свой единственный ящик {x.mailbox} (файл: {code(x.path)}). "
                f"Прочитайте его там по IMAP или POP3 через общую точку входа, в веб-почте или на этой "
                f"странице.")
    if x.mailbox and x.rcpt.lower().startswith("postmaster@"):
        return (f"агент доставки (MDA) сервера {x.host} кладёт письмо для {x.rcpt} в ящик {x.mailbox} "
                f"(postmaster)",
                f"Каждый домен, который принимает почту, обязан принимать её для postmaster (RFC 5321 "
                f"§4.5.1) — того, кто отвечает за почту домена. Здесь это {x.mailbox}: агент доставки (MDA) "
                f"сервера {x.host} записал письмо ({plural.size_ru(x.size)}) в этот ящик (файл: "
                f"{code(x.path)}). Заголовок {code('X-Original-To')} хранит адрес, на который письмо "
                f"отправили.")
    if x.mailbox:
        return (f"агент доставки (MDA) сервера {x.host} кладёт письмо для {x.rcpt} в ящик {x.mailbox} "
                f"(ящик для всех адресов домена)",
                f"Пользователя {x.rcpt} нет, но у домена есть пользователь, который получает почту для "
                f"любого другого адреса домена: агент доставки (MDA) сервера {x.host} записал письмо "
                f"({plural.size_ru(x.size)}) в ящик {x.mailbox} (файл: {code(x.path)}). Заголовок "
                f"{code('X-Original-To')} хранит адрес, на который письмо отправили.")
    return (f"агент доставки (MDA) сервера {x.host} кладёт письмо в ящик {x.rcpt}",
            f"Агент доставки (MDA) сервера {x.host} записал письмо ({plural.size_ru(x.size)}) в почтовый "
            f"ящик {x.rcpt} (Maildir): сначала целиком в {code('tmp/')}, надёжно сохранив на диске, "
            f"затем одним шагом дал ему имя в {code('new/')}, поэтому в ящике никогда не бывает половины письма. "
            f"Файл: {code(x.path)}. Теперь почтовый "
            f"клиент (MUA) пользователя может забрать письмо по POP3 или IMAP.")


def _queue_dsn(x: f.DsnNotice) -> tuple[str, str]:
    listed = "\n".join(f"- <{rcpt}>: {reason('ru', why)}" for rcpt, why in x.failures)
    return (f"{x.host} возвращает недоставленное письмо отправителю",
            f"Это почтовая система узла {x.host}.\n\n"
            f"Ваше письмо не удалось доставить одному или нескольким получателям. Причины указаны "
            f"ниже; "
            + ("исходное письмо приложено целиком." if x.whole else
               "приложены заголовки исходного письма (само письмо слишком велико, чтобы его возвращать).")
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
    f.DeliveryReason.OFF_SANDBOX: lambda r: (f"у MX {r['host']} адрес {r['address']}, он вне песочницы: "
                                             f"ничто не покидает этот компьютер, поэтому к нему не подключаются"),
}


# -------------------- внешний мир ------------------------------------------------------------

def _outside_caught(x: f.Caught) -> tuple[str, str]:
    rcpts = listing(x.rcpts) or "его получателей"
    size = plural.size_ru(x.size)
    if x.bounce:
        return (f"{x.host} отдаёт недоставленное уведомление для {rcpts} внешнему миру",
                f"Уведомление для {rcpts} доставить не удалось, а на уведомление не отвечают "
                f"уведомлением. Чтобы не потерять его, {x.host} отдаёт его внешнему миру, который хранит "
                f"его целиком ({size}) в своём ящике {x.mailbox}: ни одно письмо не остаётся только в журнале.")
    return (f"{x.host} передаёт письмо для {rcpts} во внешний мир: оно поймано",
            f"Письмо для {rcpts} ушло бы из песочницы, а этот мир ловит такую почту "
            f"({code('outside: catch')}). {x.host} не ищет MX и никуда не подключается: ничто не покидает "
            f"этот компьютер. Внешний мир хранит одну копию целиком ({size}) в своём ящике {x.mailbox} — "
            f"для всех получателей письма вне песочницы.")


_TEXTS_OUTSIDE: dict = {f.Caught: _outside_caught}


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
    f.SessionEnd.BAD_COMMANDS: "почтовый клиент (MUA) прислал слишком много ошибочных команд подряд",
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
    # no subject here: the narration reaches every page, the message's contents only its owner's
    summary = f"{_pop3_user(x)} скачивает письмо {x.number} ({code(what)}, {plural.size_ru(x.size)})"
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
    if found.get("moving"):
        parts.append("когда время вышло, почта ещё была в пути, так что счёт пока ничего не доказывает")
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
    "clients.webmail": "Или откройте веб-почту: почтовый клиент прямо в браузере, для любого пользователя мира",
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
    # -- D (issue 11): приложения и доверие к сертификату
    "clients.trust.title": "Приложения: доверие к сертификату",
    "clients.trust.intro": "Почтовый клиент один раз спрашивает, принять ли сертификат; программа сверяет его "
                           "со своим списком доверенных сертификатов и отказывается. Добавьте в этот список "
                           "файл (сертификат самоподписанный: он сам себе удостоверяющий центр):",
    "clients.trust.introOwn": "Серверы работают с вашим сертификатом (`--tls-cert`). Программа доверяет ему, "
                              "если этот файл — или центр, который его подписал, — есть в её списке:",
    "clients.trust.names": "Подключайтесь по одному из его имён:",
    "clients.trust.download": "Скачать сертификат (для другого компьютера)",
    "clients.trust.python": "`Python` (`smtplib`, `imaplib`, `urllib`): `SSL_CERT_FILE`",
    "clients.trust.pythonCode": "`Python`, только для одного соединения",
    "clients.trust.djangoSettings": "`Django`: `settings.py`",
    "clients.trust.django": "`Django`: запускайте с той же переменной",
    "clients.trust.node": "`Node.js` (`Nodemailer` и другие): `NODE_EXTRA_CA_CERTS`",
    "clients.trust.curl": "`curl`: `--cacert`",
    "clients.trust.note": "`SSL_CERT_FILE` заменяет программе весь список: она доверяет только песочнице. "
                          "Для тестов это то, что нужно; программе, которая ходит и к настоящим серверам, "
                          "нужен файл с обоими списками (см. `README`).",

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
    "transcript.tlsHidden": "{n} {n#строка зашифрована|строки зашифрованы|строк зашифровано} TLS: "
                            "подслушивающий в сети — и эта страница — видит лишь, что они были отправлены. "
                            "На экране преподавателя они видны.",
    "dns.question": "Вопрос",
    "dns.answer": "Ответ",
    "dns.chosen": "пробуется первым",
    "dns.then": "следующий",
    "dns.noAnswer": "записей нет",
    "dns.rcode": "Код результата",
    # -- B (диаграмма, задача 9): ответ DNS, отсчёт до повтора, масштаб, свёрнутые домены, линии
    "answer.answered": "DNS ответил",
    "answer.kept": "{host} оставляет",
    "answer.noRoute": "пути для письма нет",
    "answer.why": "почему: {why}",
    "answer.why.lowest_first": "сначала наименьший приоритет",
    "answer.why.own_preference": "он сам MX {own}: в счёт идут только лучшие (меньшие) приоритеты",
    "answer.why.equal_random": "равный приоритет {preference}: порядок случайный",
    "answer.why.implicit_mx": "MX-записей нет: вместо них запись `A` самого домена",
    "answer.why.null_mx": "домен публикует нулевой MX: почту он не принимает",
    "answer.why.nxdomain": "такого домена нет",
    "answer.why.outside": "вне песочницы: DNS отказывается отвечать",
    "answer.why.loop": "он сам лучший MX: письмо пошло бы по кругу",
    "answer.why.no_address": "ни у одного MX нет адреса",
    "answer.why.no_mail_server": "нет ни записей MX, ни записи `A`",
    "answer.why.dns_rcode": "DNS ответил {rcode}",
    "answer.why.dns_no_answer": "DNS не ответил",
    "node.retry": "↻ {s} с",
    "node.retryNow": "↻ сейчас",
    "zoom.in": "Крупнее (+)",
    "zoom.out": "Мельче (−)",
    "zoom.reset": "Показать весь мир (0)",
    "diagram.unfold": "нажмите, чтобы показать его серверы",
    "legend.edge.smtp": "SMTP: почта между серверами",
    "legend.edge.dns": "вопрос к DNS",
    "legend.edge.retrieve": "IMAP / POP3: чтение почты",
    "legend.edge.local": "доставка на сервере (MDA)",

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
    # -- D (issue 11): длинный текст по частям, исходный текст, вложения для скачивания
    "message.attachment.download": "Скачать это вложение",
    "message.textMore": "Показать текст дальше",
    "message.textShown": "Показано {shown} из {total} {total#символа|символов|символов}",
    "message.source": "Исходный текст письма (как оно лежит в ящике, вместе с заголовками)",
    "message.source.show": "Показать исходный текст",
    "message.source.hide": "Скрыть исходный текст",
    "message.source.more": "Показать исходный текст дальше",
    "message.source.shown": "Показано {shown} из {total}",
    "message.source.download": "Скачать (`.eml`)",

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
    "node.internet": "Интернет",
    "node.internet.caption": "внешний мир",
    "node.internet.catch": "почта туда ловится здесь",
    "node.internet.bounce": "почта туда возвращается",
    "node.internet.caught": "поймано · {n}",
    "node.internet.kept": "сохранено · {n}",
    "node.app": "приложение",
    "node.app.caption": "порт приложений",
    "node.app.short": "прил.",
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
    "keys.help": "Клавиши: Пробел — пуск и пауза · ← → по шагам · `S` — шаг · `N` — следующий этап · `P` — показ · `End` — сейчас · `+` `−` `0` — масштаб · `Shift`+стрелки — сдвиг",

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
    "kind.smtp.line": "SMTP-диалог идёт",
    "kind.dns.query": "запрос DNS",
    "kind.dns.served": "вопрос к DNS извне",
    "kind.queue.defer": "остаётся в очереди",
    "kind.queue.relay": "передано дальше: покидает очередь",
    "kind.queue.bounce": "возврат письма",
    "kind.queue.quarantine": "карантин: запись очереди не удаётся обработать",
    "kind.queue.dsn": "уведомление о недоставке",
    "kind.queue.retry": "пора повторить",
    "kind.outside.catch": "поймано внешним миром",
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


# -- export (helper X): the replay bar of an exported run (static/js/offline/bar.js) ------------------
_UI_EXPORT: dict = {
    "offline.badge": "Сохранённая копия",
    "offline.saved": "Сохранено {date} из мира «{title}». Без сервера и без сети: всё в этом файле.",
    "offline.trace": "Одно письмо: {label}",
    "offline.controls": "Повтор сохранённого прогона",
    "offline.restart": "С начала",
    "offline.restart.hint": "Показать прогон заново с первого шага",
    "offline.play": "Пуск",
    "offline.pause": "Пауза",
    "offline.all": "Показать всё",
    "offline.all.hint": "Показать весь прогон сразу, без повтора",
    "offline.speed": "Скорость повтора",
    "offline.speed.slow": "Медленно",
    "offline.speed.normal": "Обычно",
    "offline.speed.fast": "Быстро",
    "offline.progress": "{shown} из {total}",
    "offline.readonly": "Это сохранённая копия: в ней ничего нельзя изменить.",
    "offline.notsaved": "Этого нет в сохранённой копии: в ней только шаги, без серверов.",
    "offline.nonetwork": "Сохранённая копия не пользуется сетью.",
    "offline.broken": "В этом файле нет сохранённого прогона.",
}


# -------------------- faults (helper F: simulator/faults.py) ----------------------------------

def _fault_secs(value: float) -> str:
    return f"{round(value, 1):g}".replace(".", ",") + " с"


def _fault_code(text: str, fallback: str) -> str:
    return code(text) if text else fallback


def _fault_reply_set(x) -> str:
    """The reply a ``reply`` fault gives, as set (code and text)."""
    return _fault_code(f"{x.code or ''} {x.text}".strip(), "заданный ответ")


def _fault_command(command: str) -> str:
    named = {"CONNECT": "приветствие", "DELIVER": "запись в почтовый ящик"}
    if command == "DOT":
        return f"конец {code('DATA')} (завершающую точку)"
    return named.get(command) or _fault_code(command, "команду")


def _fault_times(times: int) -> str:
    if times <= 0:
        return "каждый раз"
    return "один раз" if times == 1 else plural.ru(times, "раз", "раза", "раз")


def _fault_next(reply: str) -> str:
    """What the sender does after this reply: the first digit decides (RFC 5321 §4.2.1)."""
    if reply[:1] == "4":
        return (f" Ответ {code('4xx')} временный: отправляющий сервер оставит письмо в своей очереди "
                f"и повторит попытку позже.")
    if reply[:1] == "5":
        return (f" Ответ {code('5xx')} окончательный: отправляющий сервер прекратит попытки и "
                f"отправит автору письма уведомление о недоставке.")
    return ""


def _fault_slow_parts(greeting: float, data: float) -> str:
    parts = []
    if greeting > 0:
        parts.append(f"приветствие {code('220')} приходит с задержкой {_fault_secs(greeting)}")
    if data > 0:
        parts.append(f"ответ на конец {code('DATA')} приходит с задержкой {_fault_secs(data)}")
    return " и ".join(parts) or "он отвечает с задержкой"


_FAULT_LABEL = {
    f.FaultKind.GREYLIST: "грейлистинг", f.FaultKind.SLOW: "медленный сервер",
    f.FaultKind.REPLY: "заданный ответ", f.FaultKind.SIZE_LIMIT: "ограничение размера",
    f.FaultKind.REQUIRE_TLS: "обязательный TLS", f.FaultKind.NO_TLS: "работа без TLS",
    f.FaultKind.REFUSE: "отказ в соединении", f.FaultKind.MAILBOX_FULL: "переполненный ящик",
    f.FaultKind.SERVFAIL: f"ответы {code('SERVFAIL')}", f.FaultKind.DNS_TIMEOUT: "молчащий DNS",
    f.FaultKind.NO_ADDRESS: f"пропавшая запись {code('A')}",
}


def _fault_on_greylist(x: f.FaultChanged) -> tuple[str, str]:
    later = f"не раньше чем через {_fault_secs(x.delay)}" if x.delay > 0 else "позже"
    return (f"грейлистинг на {x.target}",
            f"{x.target} теперь применяет грейлистинг (серый список): увидев тройку «адрес клиента, "
            f"отправитель в конверте, получатель» впервые, он отвечает {code('450 4.7.1')} на "
            f"{code('RCPT TO')} и запоминает её; ту же тройку, повторённую {later}, он примет. "
            f"Настоящие серверы так борются со спамом: спамерские программы редко возвращаются, а "
            f"настоящий агент передачи почты (MTA) всегда повторяет попытку после ответа "
            f"{code('4xx')}. Отправитель оставит письмо в очереди и попробует ещё раз.")


def _fault_on_slow(x: f.FaultChanged) -> tuple[str, str]:
    parts = _fault_slow_parts(x.greeting, x.end_of_data)
    return (f"{x.target} медлит: {parts}",
            f"{x.target} теперь медленный: {parts}. Настоящие серверы медлят, когда перегружены, когда "
            f"перед приветствием проверяют клиента по чёрным спискам (некоторые ждут нарочно, чтобы "
            f"поймать спамерские программы, которые говорят не в свою очередь) или когда фильтр "
            f"проверяет содержимое письма. Отправляющий MTA ждёт (RFC 5321 §4.5.3.2 разрешает "
            f"минуты); если он сдастся раньше, то оставит письмо в очереди и повторит попытку.")


def _fault_on_reply(x: f.FaultChanged) -> tuple[str, str]:
    reply, at = _fault_reply_set(x), _fault_command(x.command)
    greeting = (f" Приветствие с кодом, отличным от {code('220')}, сразу завершает соединение: "
                f"отправитель пробует следующий MX." if x.command == "CONNECT" else "")
    return (f"{x.target} отвечает {reply} на {at}: {_fault_times(x.times)}",
            f"{x.target} теперь отвечает {reply} на {at} вместо настоящего ответа "
            f"({_fault_times(x.times)}), как сервер со своей бедой: переполненным диском, строгой "
            f"политикой, ошибкой в программе.{greeting} Первая цифра говорит отправителю, что делать: "
            f"{code('4xx')} — оставить письмо и повторить позже, {code('5xx')} — сдаться и вернуть "
            f"письмо отправителю.")


def _fault_on_size(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} принимает письма не больше {plural.size_ru(x.size)}",
            f"{x.target} теперь объявляет {code(f'SIZE {x.size}')} в ответе на {code('EHLO')} "
            f"(RFC 1870). Отправитель, который указывает размер письма в {code('MAIL FROM')}, сразу "
            f"получает {code('552 5.3.4')}, если письмо больше; письмо, отправленное всё равно, "
            f"отклоняется с тем же кодом в конце {code('DATA')}. Настоящие серверы ограничивают размер, "
            f"чтобы беречь диски и ящики. Код {code('552')} окончательный: отправитель вернёт письмо.")


def _fault_on_require_tls(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} требует TLS",
            f"{x.target} теперь отвечает на {code('MAIL FROM')} кодом {code('530 5.7.0')}, пока клиент "
            f"не включит TLS командой STARTTLS (RFC 3207): ни одно письмо не должно идти по сети "
            f"открытым текстом. Отправитель, который умеет STARTTLS (большинство MTA включают его "
            f"при первой возможности), ничего не заметит; тот, кто не умеет, получит ответ "
            f"{code('5xx')} и вернёт письмо.")


def _fault_on_no_tls(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} больше не использует TLS",
            f"{x.target} теперь не предлагает STARTTLS в ответе на {code('EHLO')} и сам не включает "
            f"его, когда отправляет почту, как старый или плохо настроенный MTA. Всё, что он "
            f"отправляет и принимает, идёт по сети открытым текстом, а получатель, который требует "
            f"TLS, его почту не примет.")


def _fault_on_refuse(x: f.FaultChanged) -> tuple[str, str]:
    return (f"{x.target} отклоняет соединения на порт MX",
            f"На порту MX сервера {x.target} больше никто не слушает (как бывает, когда MTA остановлен "
            f"или порт закрыт межсетевым экраном), а сам сервер работает: IMAP, POP3 и отправка "
            f"почты доступны. Отправляющий MTA получит «соединение отклонено» и попробует следующий MX; "
            f"если письмо не примет никто, он оставит его в очереди и повторит попытку позже.")


def _fault_on_mailbox_full(x: f.FaultChanged) -> tuple[str, str]:
    if x.permanent:
        reply, after = code("552 5.2.2"), "Это окончательно: отправитель вернёт письмо."
    else:
        reply, after = (code("452 4.2.2"), "Это временно: отправитель оставит письмо в очереди и "
                                           "повторит попытку — вдруг пользователь освободит место.")
    return (f"ящик {x.target} переполнен",
            f"Почтовый ящик {x.target} превысил квоту: его сервер отвечает {reply} на "
            f"{code('RCPT TO')}, а агент доставки (MDA) не станет в него писать. Настоящие серверы "
            f"ставят квоты, чтобы один пользователь не занял весь диск. {after}")


def _fault_on_servfail(x: f.FaultChanged) -> tuple[str, str]:
    return (f"DNS отвечает {code('SERVFAIL')} для {x.target}",
            f"DNS песочницы теперь отвечает {code('SERVFAIL')} на любое имя в зоне {x.target}, как "
            f"бывает, когда DNS-сервер зоны сломан или не может загрузить данные. {code('SERVFAIL')} "
            f"значит «сейчас не могу ответить», а не «такого нет»: отправляющий MTA оставит письмо в "
            f"очереди ({code('4.4.3')}) и повторит попытку, тогда как после {code('NXDOMAIN')} письмо "
            f"возвращается отправителю.")


def _fault_on_dns_timeout(x: f.FaultChanged) -> tuple[str, str]:
    return (f"DNS молчит о {x.target}",
            f"DNS песочницы теперь не отвечает на вопросы о зоне {x.target}, как мёртвый или закрытый "
            f"межсетевым экраном DNS-сервер: вопрос по {code('UDP')} остаётся без ответа, соединение по "
            f"{code('TCP')} закрывается без него. Спрашивающий MTA ждёт, пока его резолвер не сдастся, "
            f"затем оставляет письмо в очереди и повторяет попытку позже.")


def _fault_on_no_address(x: f.FaultChanged) -> tuple[str, str]:
    return (f"у {x.target} пропала запись {code('A')}",
            f"Запись {code('A')} сервера {x.target} удалена из зоны: DNS ещё может назвать сервер (в "
            f"записи MX), но больше не говорит, по какому адресу он находится. Отправляющий MTA, не "
            f"найдя адреса у MX, переходит к следующему; если адреса нет ни у одного MX, он оставляет "
            f"письмо в очереди и повторяет попытку позже.")


_FAULT_ON = {
    f.FaultKind.GREYLIST: _fault_on_greylist, f.FaultKind.SLOW: _fault_on_slow,
    f.FaultKind.REPLY: _fault_on_reply, f.FaultKind.SIZE_LIMIT: _fault_on_size,
    f.FaultKind.REQUIRE_TLS: _fault_on_require_tls, f.FaultKind.NO_TLS: _fault_on_no_tls,
    f.FaultKind.REFUSE: _fault_on_refuse, f.FaultKind.MAILBOX_FULL: _fault_on_mailbox_full,
    f.FaultKind.SERVFAIL: _fault_on_servfail, f.FaultKind.DNS_TIMEOUT: _fault_on_dns_timeout,
    f.FaultKind.NO_ADDRESS: _fault_on_no_address,
}

_FAULT_OFF_MORE = {
    f.FaultKind.GREYLIST: " Запомненные тройки он тоже забывает.",
    f.FaultKind.REFUSE: " Порт MX снова слушает: следующая попытка отправителей пройдёт.",
    f.FaultKind.NO_ADDRESS: f" Запись {code('A')} вернулась в зону.",
    f.FaultKind.SERVFAIL: " Ждущие письма пройдут при следующей попытке.",
    f.FaultKind.DNS_TIMEOUT: " Ждущие письма пройдут при следующей попытке.",
    f.FaultKind.MAILBOX_FULL: " Ждущие письма пройдут при следующей попытке.",
}


def _fault_changed(x: f.FaultChanged) -> tuple[str, str]:
    label = _FAULT_LABEL[x.fault]
    if x.on:
        return _FAULT_ON[x.fault](x)
    if x.spent:
        return (f"{x.target} снова отвечает как обычно",
                f"{x.target} дал заданный ответ {_fault_reply_set(x)} на {_fault_command(x.command)} "
                f"{_fault_times(x.times)}, как было задано, и снова отвечает как обычно.")
    return (f"неисправность снята с {x.target}: {label}",
            f"Неисправность снята: {x.target} снова работает как обычно.{_FAULT_OFF_MORE.get(x.fault, '')}")


def _fault_who(x: f.FaultBit) -> str:
    return x.client or "клиент"


def _bite_greylist(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "временный отказ")
    return (f"{x.target} применяет грейлистинг к {_fault_who(x)}: {reply}",
            f"{x.target} ещё не видел эту тройку (адрес клиента, отправитель в конверте, получатель) "
            f"или видит её снова слишком рано, поэтому отвечает {reply}. Это грейлистинг: спамерские "
            f"программы редко повторяют попытку, настоящий MTA — всегда.{_fault_next(x.reply)}")


def _bite_slow(x: f.FaultBit) -> tuple[str, str]:
    what = {"CONNECT": f"приветствие {code('220')}", "DOT": f"ответ на конец {code('DATA')}"}.get(
        x.command, f"ответ на {_fault_code(x.command, 'команду')}")
    return (f"{x.target} медлит: {what} — через {_fault_secs(x.delay)}",
            f"{x.target} задерживает {what} на {_fault_secs(x.delay)}, и {_fault_who(x)} ждёт. "
            f"RFC 5321 §4.5.3.2 просит клиента ждать приветствия и ответа на завершающую точку "
            f"минутами; клиент, который сдастся раньше, закончит сеанс без письма, и отправитель "
            f"повторит попытку позже.")


def _bite_reply(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "заданный ответ")
    greeting = (f" Приветствие не с кодом {code('220')} завершает сеанс: отправитель пробует следующий "
                f"MX." if x.command == "CONNECT" else "")
    return (f"{x.target} отвечает {reply} на {_fault_command(x.command)}",
            f"{x.target} настроен отвечать {reply} на {_fault_command(x.command)} вместо настоящего "
            f"ответа.{greeting}{_fault_next(x.reply)}")


def _bite_size(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "отказ")
    when = (f"на {code('MAIL FROM')}, где клиент указал размер письма" if x.command == "MAIL"
            else f"на {_fault_command(x.command)}")
    return (f"{x.target} отклоняет слишком большое письмо: {reply}",
            f"{x.target} принимает письма не больше размера, объявленного словом {code('SIZE')} в ответе "
            f"на {code('EHLO')}, а это письмо больше: {reply} {when}.{_fault_next(x.reply)}")


def _bite_require_tls(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "отказ")
    return (f"{x.target} сначала требует TLS: {reply}",
            f"{x.target} принимает почту только через TLS, а {_fault_who(x)} отправил "
            f"{code('MAIL FROM')}, не включив STARTTLS: {reply}.{_fault_next(x.reply)}")


def _bite_no_tls(x: f.FaultBit) -> tuple[str, str]:
    if x.command == "STARTTLS":
        return (f"{x.target} отправляет без TLS",
                f"Принимающий сервер предложил STARTTLS, но {x.target} не использует TLS: письмо идёт "
                f"по сети открытым текстом, и его может прочитать любой, кто слушает. Получатель, "
                f"который требует TLS, отклонил бы его с кодом {code('530')}.")
    return (f"{x.target} не предлагает STARTTLS",
            f"{x.target} работает без TLS: в его ответе на {code('EHLO')} нет STARTTLS, поэтому "
            f"{_fault_who(x)} приходится говорить с ним открытым текстом, и любой, кто слушает сеть, "
            f"может прочитать письмо.")


def _bite_refuse(x: f.FaultBit) -> tuple[str, str]:
    return (f"{x.target} отклоняет соединение от {_fault_who(x)}",
            f"Порт MX сервера {x.target} закрыт, поэтому соединение от {_fault_who(x)} сразу "
            f"отклонено. Отправитель пробует следующий MX; если письмо не примет никто, он оставит его "
            f"в очереди и повторит попытку позже.")


def _bite_mailbox_full(x: f.FaultBit) -> tuple[str, str]:
    reply = _fault_code(x.reply, "отказ")
    where = ("Агент доставки (MDA) не может в него писать." if x.command == "DELIVER"
             else f"Его сервер сообщает об этом на {_fault_command(x.command)}.")
    return (f"ящик {x.target} переполнен: {reply}",
            f"Почтовый ящик {x.target} превысил квоту: {reply}. {where}{_fault_next(x.reply)}")


def _bite_servfail(x: f.FaultBit) -> tuple[str, str]:
    question = _fault_code(x.command, "вопрос")
    return (f"DNS: {question} → {code('SERVFAIL')}",
            f"DNS-сервер зоны {x.target} сломан: вопрос {question} от {_fault_who(x)} получил "
            f"{code('SERVFAIL')}. Это временно: MTA оставит письмо в очереди и спросит снова при "
            f"следующей попытке.")


def _bite_dns_timeout(x: f.FaultBit) -> tuple[str, str]:
    question = _fault_code(x.command, "вопрос")
    return (f"DNS: нет ответа на {question}",
            f"DNS-сервер зоны {x.target} не отвечает: вопрос {question} от {_fault_who(x)} остался без "
            f"ответа. Резолвер MTA ждёт, сдаётся, и письмо остаётся в очереди до следующей попытки.")


def _bite_no_address(x: f.FaultBit) -> tuple[str, str]:
    question = _fault_code(x.command, "вопрос")
    answer = _fault_code(x.reply, "нет адреса")
    return (f"DNS: у {x.target} нет адреса ({answer})",
            f"У {x.target} нет записи {code('A')}: вопрос {question} получил {answer}. Без адреса MTA не "
            f"может подключиться к этому MX: он пробует следующий или оставляет письмо в очереди до "
            f"следующей попытки.")


_FAULT_BITES = {
    f.FaultKind.GREYLIST: _bite_greylist, f.FaultKind.SLOW: _bite_slow, f.FaultKind.REPLY: _bite_reply,
    f.FaultKind.SIZE_LIMIT: _bite_size, f.FaultKind.REQUIRE_TLS: _bite_require_tls,
    f.FaultKind.NO_TLS: _bite_no_tls, f.FaultKind.REFUSE: _bite_refuse,
    f.FaultKind.MAILBOX_FULL: _bite_mailbox_full, f.FaultKind.SERVFAIL: _bite_servfail,
    f.FaultKind.DNS_TIMEOUT: _bite_dns_timeout, f.FaultKind.NO_ADDRESS: _bite_no_address,
}


def _fault_bit(x: f.FaultBit) -> tuple[str, str]:
    return _FAULT_BITES[x.fault](x)


def _fault_mailbox_full_reason(r: f.Reason) -> str:
    if r.get("permanent"):
        return f"ящик {r['rcpt']} на {r['host']} переполнен окончательно ({code('5.2.2')})"
    return f"ящик {r['rcpt']} на {r['host']} пока переполнен ({code('4.2.2')})"


_TEXTS_FAULTS: dict = {f.FaultChanged: _fault_changed, f.FaultBit: _fault_bit}
_REASONS_FAULTS: dict = {
    f.AttemptReason.TLS: lambda r: f"не удалось установить TLS после STARTTLS ({code(r['detail'])})",
    f.DeliveryReason.MAILBOX_FULL: _fault_mailbox_full_reason,
}


TEXTS: dict = {**_TEXTS_WORLD, **_TEXTS_SMTP, **_TEXTS_DNS, **_TEXTS_QUEUE, **_TEXTS_OUTSIDE, **_TEXTS_POP3, **_TEXTS_IMAP,
                 **_TEXTS_LESSON, **_TEXTS_FAULTS}
REASONS: dict = {**_REASONS_SMTP, **_REASONS_DNS, **_REASONS_QUEUE, **_REASONS_LESSON, **_REASONS_FAULTS}


# -------------------- ui: lessons on the page (issue 8, helper W) ---------------------------

_UI_LESSONS_PAGE: dict = {
    "lessons.button": "Уроки",
    "lessons.button.hint": "Выбрать урок, сбросить мир, открыть файл сценария, сохранить прогон",
    "lessons.title": "Уроки",
    "lessons.now": "Сейчас идёт",
    "lessons.reset": "Сбросить мир",
    "lessons.reset.hint": "Начать этот сценарий заново с пустыми ящиками и очередями (всё, что было, остаётся в журнале)",
    "lessons.export": "Сохранить прогон",
    "lessons.export.hint": "Скачать этот прогон одним файлом `HTML`, который воспроизводится без сети (студентам после занятия)",
    "lessons.save": "Сохранить мир как сценарий",
    "lessons.save.hint": "Скачать мир в нынешнем виде (с вашими правками MX и серверов) как файл сценария",
    "lessons.file": "Свой файл сценария",
    "lessons.file.hint": "Файл `.yaml` в формате библиотеки. Если в нём есть ошибки, они будут перечислены здесь, а работающий мир останется как есть.",
    "lessons.file.open": "Открыть файл сценария…",
    "lessons.library": "Библиотека",
    "lesson.library.empty": "Уроков не нашлось.",
    "lesson.level.intro": "начальный",
    "lesson.level.core": "основной",
    "lesson.level.advanced": "продвинутый",
    "lesson.level.other": "другие сценарии",
    "lesson.steps": "{n} {n#этап|этапа|этапов}",
    "lesson.load": "Загрузить",
    "lesson.reload": "Начать заново",
    "lesson.loaded": "Загружено: {title}",
    "lesson.resetDone": "Мир сброшен.",
    "lesson.goals": "Цели",
    "lesson.file.problems": "{file}: {n} {n#ошибка|ошибки|ошибок}",
    "lesson.file.untouched": "Ничего не загружено: работающий мир не изменился.",
    "lesson.narration": "Рассказ урока",
    "lesson.steps.label": "Этапы урока",
    "lesson.position": "Этап {k} из {n}",
    "lesson.viewing": "Читаем этап {k} из {n}",
    "lesson.next": "Следующий этап",
    "lesson.next.hint": "Продолжить урок: мир выполнит следующий этап (`N`)",
    "lesson.nextHop": "Следующий шаг",
    "lesson.state.idle": "не начат",
    "lesson.state.running": "идёт",
    "lesson.state.waiting": "ждёт следующего этапа",
    "lesson.state.finished": "окончен",
    "lesson.state.failed": "проверка не прошла",
    "lesson.state.ready": "нажмите «Следующий этап», чтобы начать",
    "lesson.state.none": "свободная игра",
    "lesson.state.stopped": "остановлен",
    "lesson.status.skipped": "пропущен",
    "lesson.detail.found": "Что произошло",
    "lesson.status.pending": "впереди",
    "lesson.status.running": "выполняется",
    "lesson.status.waiting": "ждёт",
    "lesson.status.passed": "пройден",
    "lesson.status.failed": "не пройден",
    "lesson.status.done": "выполнен",
    "lesson.action.say": "рассказ",
    "lesson.action.send": "отправить письмо",
    "lesson.action.fetch": "прочитать ящик",
    "lesson.action.wait": "подождать",
    "lesson.action.host_down": "выключить сервер",
    "lesson.action.host_up": "включить сервер",
    "lesson.action.set_mx": "изменить записи MX",
    "lesson.action.fault": "включить неисправность",
    "lesson.action.expect": "проверка",
    "lesson.line": "строка {line}",
    "lesson.failedAt": "Этап {k} ({action}, строка {line}) не пройден.",
    "lesson.passed": "Проверка пройдена",
    "lesson.finished": "Урок окончен: пройдено {passed} из {n} {n#проверки|проверок|проверок}.",
    "lesson.finished.plain": "Урок окончен.",
    "lesson.detail.expected": "Ожидалось",
    "lesson.detail.happened": "Что произошло",
    "follow.button": "За преподавателем",
    "follow.on.hint": "Ваш экран следует за экраном преподавателя; нажмите, чтобы смотреть самостоятельно",
    "follow.off.hint": "Вы смотрите самостоятельно; нажмите, чтобы снова следовать за преподавателем",
    "present.button": "Показ",
    "present.hint": "Режим показа для проектора: крупный шрифт (`P`)",
    "fault.title": "Неисправности",
    "fault.intro": "Нарочно сломать что-нибудь. Каждая неисправность отмечена на своём сервере и объясняется, когда срабатывает.",
    "fault.kind": "Неисправность",
    "fault.on.host": "Сервер",
    "fault.on.zone": "Зона",
    "fault.on.mailbox": "Ящик",
    "fault.param.delay": "Повтор принимается через (с)",
    "fault.param.greeting": "Задержка приветствия (с)",
    "fault.param.data": "Задержка после `DATA` (с)",
    "fault.param.at": "На команде",
    "fault.param.code": "Код ответа",
    "fault.param.text": "Текст ответа",
    "fault.param.times": "Сколько раз (0 — всегда)",
    "fault.param.size": "Наибольшее письмо (байт)",
    "fault.param.permanent": "Окончательно (552 вместо 452)",
    "fault.set": "Включить",
    "fault.clear": "Убрать",
    "fault.none": "Неисправностей нет: всё работает.",
    "fault.done": "Неисправность включена: {fault}.",
    "fault.refuse": "Отказывает в соединении",
    "fault.greylist": "Грейлистинг",
    "fault.slow": "Медленный сервер",
    "fault.reply": "Заданный ответ на команду",
    "fault.size_limit": "Предел размера",
    "fault.require_tls": "Требует TLS",
    "fault.no_tls": "Без TLS",
    "fault.no_address": "Нет записи `A`",
    "fault.mailbox_full": "Ящик переполнен",
    "fault.servfail": "DNS отвечает `SERVFAIL`",
    "fault.dns_timeout": "DNS не отвечает",
    "fault.refuse.hint": "SMTP-порт сервера отвергает каждое соединение; сам сервер при этом работает.",
    "fault.greylist.hint": "Первая попытка от отправителя получает `450 4.7.1`; повтор принимается.",
    "fault.slow.hint": "Приветствие и/или ответ на `DATA` приходят с задержкой.",
    "fault.reply.hint": "На выбранную команду сервер отвечает заданным ответом вместо настоящего.",
    "fault.size_limit.hint": "`EHLO` объявляет `SIZE`; письмо больше предела отвергается с `552 5.3.4`.",
    "fault.require_tls.hint": "`MAIL` до `STARTTLS` отвергается с `530 5.7.0`.",
    "fault.no_tls.hint": "Старый MTA: не предлагает `STARTTLS` и сам не пользуется им при отправке.",
    "fault.no_address.hint": "Из зоны пропала запись `A` сервера: никто не найдёт его адрес.",
    "fault.mailbox_full.hint": "Доставка в этот ящик получает `452 4.2.2` (или `552 5.2.2`, если окончательно).",
    "fault.servfail.hint": "DNS-сервер отвечает `SERVFAIL` на любое имя в зоне.",
    "fault.dns_timeout.hint": "DNS-сервер вовсе не отвечает на имена в зоне.",
    "fault.refuse.short": "отказывает",
    "fault.greylist.short": "грейлистинг",
    "fault.slow.short": "медленный",
    "fault.reply.short": "{code} на {at}",
    "fault.size_limit.short": "не больше {size} байт",
    "fault.require_tls.short": "нужен TLS",
    "fault.no_tls.short": "без TLS",
    "fault.no_address.short": "нет записи `A`",
    "fault.mailbox_full.short": "ящик полон",
    "fault.servfail.short": "`SERVFAIL`",
    "fault.dns_timeout.short": "DNS молчит",
}


# -- helper C, issue 9: the page's chrome, timeline and details --------------------------------------
_UI_PAGE: dict = {
    "end.mailbox": "ящик {address}",
    "end.mua": "почтовый клиент {address}",
    "details.label": "Выбранный шаг, узел или письмо",
    "details.going": "идёт",
    "details.layers": "Уровни",
    "details.more": "Дальше…",
    "details.less": "Свернуть",
    "dns.kept": "Оставлено, в порядке попыток",
    "gate.next": "Следующий шаг",
    "gate.nothing": "Пауза",
    "review.banner.short": "Просмотр прошлого: шаг {pos} из {total}",
    "keys.button": "Клавиши",
    "wire.clear": "Этот диалог не зашифрован: любой, кто слушает сеть, читает каждую строку. `base64` — "
                  "это кодировка, а не шифр. `STARTTLS` или порты с TLS (465, 993, 995) скрыли бы пароль.",
    "wire.hidden": "Вход прошёл по сети внутри TLS: подслушивающий видит только зашифрованные байты, а в "
                   "записи сервера на их месте `********`.",
    "wire.hiddenBy.starttls": "скрыто `STARTTLS`",
    "wire.hiddenBy.implicit": "скрыто TLS (порт с TLS)",
    "wire.inClear": "вход открытым текстом",
    "wire.tlsFrom": "Дальше диалог идёт внутри TLS: подслушивающий видит только зашифрованные байты.",
    "wire.show": "Что прочтёт подслушивающий",
    "wire.hide": "Скрыть",
    "wire.reads": "Подслушивающий в сети прочтёт:",
    "wire.decoded": "`base64` раскодируется в",
    "wire.user": "пользователь",
    "wire.password": "пароль",
    "layers.app": "Прикладной уровень:",
    "layers.app.lines": "Диалог: {n} {n#строка|строки|строк} {protocol}.",
    "layers.app.none": "На этом шаге диалога нет.",
    "layers.tcp": "Транспортный уровень: `TCP`",
    "layers.udp": "Транспортный уровень: `UDP`",
    "layers.ports": "порт клиента {client} → порт сервера {server}",
    "layers.notMade": "Соединение не установлено: по этому адресу никто не ответил.",
    "layers.tls.off.short": "без TLS",
    "layers.tls.starttls.short": "TLS после `STARTTLS`",
    "layers.tls.implicit.short": "TLS с самого начала",
    "layers.tls.off": "Открытый текст: каждая строка прошла по сети такой, как она показана здесь.",
    "layers.tls.starttls": "Диалог начался открытым текстом и после `STARTTLS` перешёл на {version}: "
                           "строки после этого шли по сети зашифрованными.",
    "layers.tls.implicit": "{version} с первого байта (порт с TLS): каждая строка шла по сети зашифрованной.",
    "layers.tls.starttls.before": "Уже под {version}: `STARTTLS` был раньше на этом соединении, поэтому "
                                  "каждая строка здесь шла по сети зашифрованной.",
    "layers.ip": "Сетевой уровень: `IP`",
    "layers.ip.sandbox": "В песочнице у каждого узла свой адрес на петлевом интерфейсе `127.42.d.h` (`d` — его "
                         "домен, `h` — сам узел), поэтому настоящие сокеты показывают, кто с кем говорит. "
                         "`127.0.0.1` — этот компьютер, общая точка входа.",
    "layers.thisComputer": "этот компьютер",
    "layers.unknown": "На этом шаге не было своего сетевого соединения.",
    "layers.partial": "В записи этого шага нет данных о сокетах (старый журнал): показано то, что в ней названо.",
    "service.dns": "DNS",
    "service.mx": "SMTP, вход MX (роль порта 25)",
    "service.submission": "отправка, MSA (роль порта 587)",
    "service.smtps": "отправка через TLS (роль порта 465)",
    "service.imap": "IMAP (роль порта 143)",
    "service.imaps": "IMAP через TLS (роль порта 993)",
    "service.pop3": "POP3 (роль порта 110)",
    "service.pop3s": "POP3 через TLS (роль порта 995)",
    "service.app": "SMTP для приложений, без входа (порт 1025 локальной песочницы)",
    "node.listeners": "Слушает",
    "node.listeners.none": "Открытых портов нет.",
    "node.listeners.service": "Служба",
    "node.listeners.address": "Адрес",
    "node.listeners.port": "Порт",
    "node.hops": "Последние шаги",
    "node.hops.none": "Здесь пока ничего не происходило.",
    "node.hops.more": "и ещё {n} {n#шаг|шага|шагов} раньше",
    "node.faults": "Неисправности здесь",
    "node.client.title": "Почтовый клиент {address} (MUA)",
    "node.client.what": "Программа, в которой пользователь пишет и читает письма (`Thunderbird`, почта в "
                        "телефоне). Новые письма она передаёт своему MSA, а ящик читает по IMAP или POP3: "
                        "сам ящик живёт на сервере.",
    "node.client.user": "Пользователь",
    "node.client.sends": "Отправляет через",
    "node.client.sendsVia": "{host} (MSA)",
    "node.client.reads": "Читает",
    "node.queue.title": "Очередь: {n} {n#письмо|письма|писем}",
    "node.queue.empty": "Очередь пуста.",
    "node.queue.running": "попытка идёт сейчас",
    "node.queue.retryIn": "следующая попытка через {s} с",
    "node.queue.attempts": "{n} {n#попытка|попытки|попыток}",
    "node.dns.title": "DNS: сервер имён песочницы",
    "node.dns.what": "Он отвечает за все домены песочницы: какие узлы принимают почту домена (`MX`) и какой "
                     "адрес у каждого узла (`A`). Отправляющий MTA спрашивает его перед каждой доставкой.",
    "node.dns.zones": "Зоны",
    "node.dns.nullMx": "нулевой MX: домен не принимает почту (RFC 7505)",
    "node.dns.noMx": "записи MX нет: почта идёт на собственный адрес домена, если он есть",
    "node.front.title": "Общая точка входа (127.0.0.1)",
    "node.front.what": "Один адрес для настоящих почтовых клиентов на этом компьютере: после входа она "
                       "передаёт сеанс серверам самого пользователя (MSA для отправки, серверу ящиков для "
                       "чтения).",
    "node.outside.title": "Программы вне песочницы",
    "node.outside.what": "Программы на этом компьютере, которые не являются узлами песочницы (`dig`, `swaks`, "
                         "`nc`, скрипт ученика) и говорят с сервером песочницы напрямую.",
    "node.outside.peers": "Адреса",
    "node.app.title": "Приложения (порт приложений)",
    "node.app.what": "Программы, которые проверяют на этом компьютере (сайт на `Django`, скрипт со `smtplib`), "
                     "отправляют почту на порт приложений 127.0.0.1 без входа и от любого отправителя; "
                     "дальше письмо идёт по песочнице как обычная отправка, от MSA домена отправителя.",
    "node.mda.title": "Агент доставки {domain} (MDA)",
    "node.mda.what": "Он берёт письмо, принятое MX, и записывает его в ящик получателя (каталог Maildir на диске).",
    "node.imap.title": "IMAP-сервер {domain}",
    "node.imap.what": "Через него почтовые клиенты читают ящики этого домена; письма остаются на сервере.",
    "node.pop3.title": "POP3-сервер {domain}",
    "node.pop3.what": "Через него почтовые клиенты скачивают письма этого домена; после `DELE` и `QUIT` их "
                      "на сервере больше нет.",
    "node.domain.title": "Домен {domain}",
    "node.domain.hosts": "Его серверы",
    "node.domain.mx": "Его таблица MX",
    "node.mailboxes": "Почтовые ящики",
    "node.mailbox.messages": "{n} {n#письмо|письма|писем}",
    "mailbox.what": "Ящик живёт на сервере; почтовый клиент читает его по IMAP или POP3.",
    "mailbox.report": "отчёт о доставке",
    "dsn.text": "Уведомление словами",
    "dsn.title": "Отчёт о доставке (`message/delivery-status`, RFC 3464)",
    "dsn.what": "Это письмо — возврат: сервер, который сдался, сообщает, что случилось с каждым получателем.",
    "dsn.noRecipients": "В отчёте не назван ни один получатель.",
    "dsn.action.failed": "доставить не удалось",
    "dsn.action.delayed": "задержано: попытки продолжаются",
    "dsn.action.delivered": "доставлено",
    "dsn.action.relayed": "передано серверу, который не присылает отчётов",
    "dsn.action.expanded": "доставлено и переслано на другие адреса",
    "dsn.action.other": "`{action}`",
    "dsn.status": "`Status:`",
    "dsn.class.permanent": "постоянная ошибка",
    "dsn.class.transient": "временная ошибка",
    "dsn.class.success": "успех",
    "dsn.diagnostic": "`Diagnostic-Code:` что ответил удалённый сервер",
    "dsn.remote": "`Remote-MTA:` какой сервер это сказал",
    "dsn.reason": "Почему (ни один сервер не ответил)",
    "dsn.lastAttempt": "`Last-Attempt-Date:`",
    "dsn.retryUntil": "`Will-Retry-Until:`",
    "dsn.original": "`Original-Recipient:`",
    "dsn.reporting": "`Reporting-MTA:` кто сообщает",
    "dsn.arrival": "`Arrival-Date:`",
    "dsn.gateway": "`DSN-Gateway:`",
    "dsn.returned.headers": "Заголовок возвращённого письма",
    "dsn.returned.whole": "Возвращённое письмо",
}


# -- helper C, issue 10: a class that takes part (static/js/classroom.js, details.js, diagram.js) ------
_UI_CLASS_PAGE: dict = {
    "class.button.join": "Войти в класс",
    "class.button.join.hint": "Получить свой адрес и почтовый ящик в песочнице",
    "class.button.me": "Моя почта",
    "class.button.me.hint": "Ваш адрес, пароль и путь к вашему почтовому ящику",
    "class.title": "Класс",
    "class.title.join": "Войти в класс",
    "class.title.me": "Вы в классе",
    "class.state.open": "вход открыт",
    "class.state.closed": "вход закрыт",
    "class.count": "{n} {n#ученик|ученика|учеников}",
    "class.closed": "Вход в класс закрыт.",
    "class.closed.hint": "Преподаватель откроет его, когда класс будет участвовать.",
    "class.join.intro": "Войдите под своим именем: вы получите свой адрес и почтовый ящик в песочнице. "
                        "Пишите одноклассникам и пользователям урока и смотрите, как ваши письма идут по схеме.",
    "class.join.name": "Ваше имя",
    "class.join.nameHint": "Из него получится ваш адрес в домене {domain}.",
    "class.join.submit": "Войти",
    "class.join.tooMany": "Сейчас входят слишком многие: подождите немного и попробуйте ещё раз.",
    "class.privacy": "Ваш ящик читаете только вы (и преподаватель). Но каждый шаг письма виден на схеме, а то, "
                     "что идёт по сети без TLS, можно прочитать в диалоге серверов: в этом и урок.",
    "class.me.welcome": "Добро пожаловать, {name}! Ваша учётная запись:",
    "class.me.name": "Имя",
    "class.me.address": "Адрес",
    "class.me.password": "Пароль",
    "class.me.keep": "Запишите пароль: страница показывает его, только пока вы её не закроете.",
    "class.me.noPassword": "Пароль был показан, когда вы вошли в класс.",
    "class.me.open": "Открыть мою почту",
    "class.me.thunderbird": "Подойдёт и почтовый клиент (`Thunderbird`, почта на телефоне): войдите с этим "
                            "адресом и паролем. Серверы и порты — в разделе «Подключить почтовый клиент».",
    "class.me.clients": "Подключить почтовый клиент",
    "class.me.limit": "Вы можете отправить не больше {n} {n#письма|писем|писем}.",
    "class.joining": "Вход в класс",
    "class.joining.hint": "Вошедший ученик получает адрес в домене {domain}, почтовый ящик и почтовый клиент "
                          "на схеме.",
    "class.open": "Открыть вход",
    "class.close": "Закрыть вход",
    "class.limit.title": "Лимит отправки",
    "class.limit": "Писем на ученика",
    "class.limit.none": "без лимита",
    "class.limit.save": "Сохранить",
    "class.limit.bad": "Лимит — целое число писем, от 0 до 10000.",
    "class.limit.hint": "Когда ученик его исчерпал, MSA отказывает в следующем письме (и объясняет почему).",
    "class.limit.saved": "Теперь каждый ученик может отправить {n} {n#письмо|письма|писем}.",
    "class.limit.savedNone": "Теперь ученики отправляют письма без лимита.",
    "class.students": "Ученики",
    "class.students.noneYet": "Пока никто не вошёл.",
    "class.students.none": "Никто не вошёл. Откройте вход, чтобы ученики могли войти.",
    "class.student.name": "Имя",
    "class.student.address": "Адрес",
    "class.student.sent": "Отправлено",
    "class.student.actions": "Действия",
    "class.remove": "Удалить",
    "class.remove.label": "Удалить {address}",
    "class.remove.ask": "Удалить {address} из класса?",
    "class.remove.yes": "Да, удалить",
    "class.remove.no": "Отмена",
    "class.removed": "{address} удалён из класса.",
    "class.mailbox.locked": "Этот почтовый ящик личный: читать его могут только владелец и преподаватель.",
    "class.mailbox.login": "Войдите в веб-почту, чтобы прочитать этот ящик",
    "class.mailbox.wire": "Шаги писем видны всем: то, что почтовый клиент отправляет без TLS, можно прочитать "
                          "в диалоге.",
    "class.webmail.tag": "веб-почта",
    "class.webmail.hint": "Этот шаг сделала веб-почта: здесь почтовый клиент — веб-сервер.",
    "node.mua.webmail": "веб-почта",
    "node.mua.webmailOf": "веб-почта {name}",
}


# -- helper B, issue 10: the webmail page (templates/webmail.html, static/js/webmail*.js) ------------
_UI_WEBMAIL: dict = {
    "webmail.title": "Веб-почта",
    "webmail.diagram": "Схема",
    "webmail.diagram.hint": "Назад к схеме почтового мира",
    "webmail.logout": "Выйти",
    "webmail.login.title": "Вход в почтовый ящик",
    "webmail.login.intro": "Эта веб-почта — настоящий почтовый клиент (MUA): веб-сервер входит на почтовые "
                           "серверы за вас, и каждый щелчок — это сеанс, который видно на схеме.",
    "webmail.login.address": "Адрес",
    "webmail.login.password": "Пароль",
    "webmail.login.submit": "Войти",
    "webmail.login.missing": "Введите адрес и пароль.",
    "webmail.retrieval": "Чтение почты",
    "webmail.retrieval.imap.hint": "почта остаётся на сервере; папки хранятся там, и любое устройство видит "
                                   "одно и то же.",
    "webmail.retrieval.pop3.hint": "веб-почта скачивает новые письма и удаляет их с сервера; папки есть только "
                                   "в этой веб-почте.",
    "webmail.keep": "Оставлять копию на сервере",
    "webmail.keep.short": "копия остаётся на сервере",
    "webmail.tls": "Соединение",
    "webmail.tls.plain": "Без шифрования",
    "webmail.tls.starttls.hint": "после приветствия диалог шифруется: подслушивающий в сети видит только TLS.",
    "webmail.tls.plain.hint": "шифрования нет: пароль идёт по сети в открытом виде — посмотрите диалог этого "
                              "шага на схеме.",
    "webmail.student": "участник класса",
    "webmail.compose": "Написать",
    "webmail.check": "Проверить почту",
    "webmail.check.hint": "Спросить сервер о новых письмах прямо сейчас",
    "webmail.folders": "Папки",
    "webmail.folder.inbox": "Входящие",
    "webmail.folder.sent": "Отправленные",
    "webmail.folder.drafts": "Черновики",
    "webmail.folder.trash": "Корзина",
    "webmail.folder.junk": "Спам",
    "webmail.settings": "Как подключается эта веб-почта",
    "webmail.set.imap": "IMAP: список каждый раз читается с сервера; веб-почта ничего не хранит у себя.",
    "webmail.set.pop3": "POP3: при проверке почты письма скачиваются в веб-почту и удаляются с сервера.",
    "webmail.set.pop3.keep": "POP3: при проверке почты письма скачиваются в веб-почту, а копия остаётся на "
                             "сервере.",
    "webmail.list": "Письма",
    "webmail.list.empty": "Здесь нет писем.",
    "webmail.count": "{n} {n#письмо|письма|писем}",
    "webmail.unseen": "{n} {n#непрочитанное|непрочитанных|непрочитанных}",
    "webmail.toWhom": "кому: {to}",
    "webmail.noSubject": "(без темы)",
    "webmail.mark.unseen": "не прочитано",
    "webmail.mark.flagged": "Помечено",
    "webmail.mark.answered": "Есть ответ",
    "webmail.mark.attachment": "Есть вложения",
    "webmail.mark.report": "Отчёт о доставке (DSN): сервер сообщает, что стало с письмом",
    "webmail.mark.dsn": "DSN",
    "webmail.read.empty": "Выберите письмо, чтобы прочитать его.",
    "webmail.loading": "Загрузка…",
    "webmail.actions": "Что сделать с этим письмом",
    "webmail.reply": "Ответить",
    "webmail.replyAll": "Ответить всем",
    "webmail.forward": "Переслать",
    "webmail.flag": "Пометить",
    "webmail.unflag": "Снять пометку",
    "webmail.unread": "Сделать непрочитанным",
    "webmail.move.to": "Переместить в папку",
    "webmail.move": "Переместить",
    "webmail.delete": "Удалить",
    "webmail.views": "Как смотреть это письмо",
    "webmail.tab.text": "Текст",
    "webmail.tab.headers": "Заголовки",
    "webmail.tab.source": "Исходник",
    "webmail.tab.attachments": "Вложения",
    "webmail.head.cc": "`Cc:`",
    "webmail.text.none": "В этом письме нет текста.",
    "webmail.text.onlyHtml": "В этом письме есть только часть `HTML`: откройте вкладку `HTML`.",
    "webmail.text.cut": "Текст здесь обрезан; письмо целиком — на вкладке «Исходник».",
    "webmail.headers.hint": "Все поля заголовка в том порядке, в каком они записаны в письме: каждый сервер "
                            "добавляет свою строку `Received:` сверху.",
    "webmail.html.frame": "Часть письма в формате `HTML`",
    "webmail.html.sealed": "Показано в закрытой рамке: скрипты не выполняются, а внешние картинки заблокированы "
                           "— их загрузка сообщила бы отправителю, что вы открыли письмо.",
    "webmail.html.images": "Внешние картинки показаны: серверы, где они лежат, теперь знают, что письмо открыли.",
    "webmail.images": "Показать внешние картинки",
    "webmail.download": "Скачать",
    "webmail.download.name": "Скачать {name}",
    "webmail.att.unnamed": "(без имени)",
    "webmail.compose.title.new": "Новое письмо",
    "webmail.compose.title.reply": "Ответ",
    "webmail.compose.title.reply_all": "Ответ всем",
    "webmail.compose.title.forward": "Пересылка",
    "webmail.compose.discard": "Отменить",
    "webmail.c.from": "От",
    "webmail.c.to": "Кому",
    "webmail.c.cc": "Копия",
    "webmail.c.bcc": "Скрытая копия",
    "webmail.c.addr.hint": "Несколько адресов разделяйте запятыми.",
    "webmail.c.bcc.hint": "Скрытая копия: эти получатели получат письмо, но ни один заголовок их не назовёт.",
    "webmail.c.subject": "Тема",
    "webmail.c.body": "Текст",
    "webmail.c.files": "Вложения",
    "webmail.c.files.add": "Добавить файлы…",
    "webmail.c.files.remove": "Убрать {name}",
    "webmail.c.files.unread": "Не удалось прочитать файл {name}.",
    "webmail.c.files.wait": "Вложения ещё читаются; отправьте чуть позже.",
    "webmail.c.noRecipient": "Укажите хотя бы один адрес: «Кому», «Копия» или «Скрытая копия».",
    "webmail.c.tooBig": "Письмо слишком велико для веб-сервера: приложите файлы поменьше.",
    "webmail.wire.plain": "Соединение без шифрования: письмо и пароль идут по сети в открытом виде. Любой, кто "
                          "слушает сеть, может их прочитать, а диалог шага на общей схеме показывает их всему "
                          "классу.",
    "webmail.wire.starttls": "STARTTLS: подслушивающий в сети увидел бы только TLS — как и страницы ваших "
                             "одноклассников: после STARTTLS они показывают лишь, сколько строк зашифровано. "
                             "Экран преподавателя показывает весь диалог: песочница его записывает.",
    "webmail.send": "Отправить",
    "webmail.sent.ok": "Отправлено. MSA ответил: `{reply}`",
    "webmail.sent.pending": "Письмо ждёт разрешения преподавателя: оно пойдёт дальше, когда преподаватель "
                            "выпустит шаг.",
    "webmail.done.flagged": "Помечено.",
    "webmail.done.unflagged": "Пометка снята.",
    "webmail.done.unread": "Отмечено как непрочитанное.",
    "webmail.done.moved": "Перемещено в папку «{folder}».",
    "webmail.done.trashed": "Перемещено в корзину.",
    "webmail.done.deleted": "Удалено навсегда.",
    "webmail.error.login_failed": "Вход не удался: неверный адрес или пароль.",
    "webmail.error.session": "Вы больше не вошли в почту (возможно, мир перезапустили): войдите снова.",
    "webmail.error.bad_field": "Поле «{field}» нельзя отправить в таком виде: проверьте адреса (имя@домен, через "
                               "запятую); в поле заголовка не может быть перевода строки.",
    "webmail.error.too_large": "Письмо больше, чем принимает MSA (его `SIZE`): приложите файлы поменьше.",
    "webmail.error.refused": "Сервер отказал: `{reply}`",
    "webmail.error.unreachable": "Почтовый сервер недоступен: может быть, он выключен на схеме?",
    "webmail.error.no_starttls": "Сервер не предлагает STARTTLS, поэтому ничего не отправлено в открытом виде. "
                                 "Чтобы продолжить, выберите соединение без шифрования.",
    "webmail.error.no_folder": "Такой папки нет.",
    "webmail.error.no_message": "Этого письма больше нет: его переместили, удалили или скачали по POP3.",
    "webmail.error.no_attachment": "В этом письме нет такого вложения.",
    "webmail.world": "Мир изменился: войдите снова, если страница попросит.",
}


UI: dict[str, str] = {**_UI_UI, **_UI_EXPORT, **_UI_LESSONS_PAGE, **_UI_PAGE, **_UI_CLASS_PAGE, **_UI_WEBMAIL}
