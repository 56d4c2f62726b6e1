"""Russian texts of the world facts."""
from __future__ import annotations

from ... import facts as f
from ..markup import code, listing


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


_WORLD_STEPS = {
    f.Step.SUBMIT: lambda x: f"почтовый клиент (MUA) {x.user} передаёт письмо серверу {x.host}",
    f.Step.DNS_QUERY: lambda x: f"{x.host} спрашивает у DNS MX-записи домена {x.domain}",
    f.Step.CONNECT: lambda x: f"{x.host} подключается к {x.target} ({x.address})",
    f.Step.DELIVER: lambda x: f"агент доставки (MDA) сервера {x.host} кладёт письмо в ящик {x.rcpt}",
    f.Step.REPLY: lambda x: f"{x.host} отвечает: {code(x.reply)}",
}


def _world_next_hop(x: f.NextHop) -> tuple[str, str]:
    what = _WORLD_STEPS[x.step](x)
    return (f"Следующий шаг ждёт разрешения: {what}",
            "Мир на паузе: этот шаг произойдёт, когда преподаватель нажмёт «Шаг» (или «Пуск»). "
            "Настоящие серверы и клиенты в это время действительно ждут: для них сервер просто "
            "медленный.")


TEXTS = {f.HostStateChanged: _world_host_state, f.MxTableChanged: _world_mx_changed, f.NextHop: _world_next_hop}
REASONS: dict = {}
