"""Russian texts of the dns facts (merged into ../ru.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason


def _dns_answers(answers: tuple[str, ...]) -> str:
    return listing((code(a) for a in answers), "; ")


def _dns_order(x: f.MxLookup) -> str:
    return "; ".join(w for w in (reason("ru", r) for r in x.reason) if w)


def _dns_lookup(x: f.MxLookup) -> tuple[str, str]:
    answers = _dns_answers(x.answers)
    asked = f"{x.host} спрашивает у DNS MX-записи домена {x.domain}: {answers or code(x.rcode)}"
    if x.error is not None:
        why = reason("ru", x.error)
        after = ("Письмо доставить нельзя: оно возвращается отправителю." if x.permanent
                 else "Это временно: письмо остаётся в очереди, попытка будет повторена позже.")
        return (f"{asked} — {why}",
                f"{x.host} спросил у DNS-сервера MX-записи домена {x.domain}. Итог: {why}. {after}")
    first = f"сначала пробуется {x.chosen}" if x.chosen else "пробовать некого"
    order = f" ({_dns_order(x)})" if x.reason else ""
    found = "их нет" if x.implicit or not x.answers else answers
    return (f"{asked} — {first}",
            f"Чтобы узнать, куда отправлять почту для {x.domain}, агент передачи почты (MTA) {x.host} "
            f"запросил в DNS MX-записи: {found}. Чем меньше число приоритета MX, тем раньше пробуют "
            f"сервер, поэтому {first}{order}.")


def _dns_served(x: f.DnsServed) -> tuple[str, str]:
    answers = _dns_answers(x.answers) or "записей нет"
    return (f"вопрос к DNS с адреса {x.peer}: {code(x.question)} → {code(x.rcode)}",
            f"Программа с адреса {x.peer} ({code('dig')} или программа студента) спросила DNS песочницы "
            f"по {code(x.transport.upper())}: {code(x.question)}. Ответ: {code(x.rcode)}; {answers}. "
            f"Сервер авторитетен только для зон песочницы и отказывает во всём остальном.")


TEXTS = {f.MxLookup: _dns_lookup, f.DnsServed: _dns_served}
REASONS = {
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
