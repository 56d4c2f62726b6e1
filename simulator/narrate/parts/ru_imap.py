"""Russian texts of the imap facts (merged into ../ru.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason

_IMAP_KEEP = ("Письма остаются на сервере (IMAP хранит почту на сервере; POP3 обычно скачивает письма "
              "и удаляет их).")


def _imap_flag(name: str) -> str:
    """A system flag as it is written on the wire (``\\Seen``), as code."""
    return code("\\" + name)


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
            f"почтовые клиенты пользователя видят одни и те же; пометки {_imap_flag('Sent')}, "
            f"{_imap_flag('Trash')} и другие говорят, какая папка для чего.")


def _imap_append(x: f.ImapAppend) -> tuple[str, str]:
    return (f"{code('APPEND')} {_imap_folder(x.folder)}: UID {x.uid}, {plural.size_ru(x.size)}",
            f"Почтовый клиент (MUA) загружает письмо {_imap_folder(x.folder)} (например, копию "
            f"отправленного или черновик). Сервер сохраняет его и сообщает новый UID "
            f"({code('APPENDUID')}), чтобы почтовому клиенту не пришлось его искать.")


def _imap_expunge(x: f.ImapExpunge) -> tuple[str, str]:
    summary = f"{code(x.command)} {_imap_folder(x.folder)}: удалено {_imap_letters(len(x.uids))}"
    if x.command == "CLOSE":
        return summary, (f"{code('CLOSE')} удаляет письма с пометкой {_imap_flag('Deleted')} (как "
                         f"{code('EXPUNGE')}, но без ответов {code('EXPUNGE')}) и закрывает папку. "
                         f"Другим открытым сеансам сообщается ответом {code('EXPUNGE')}.")
    return summary, (f"Письма с пометкой {_imap_flag('Deleted')} теперь действительно удалены с "
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
            f"Почтовый клиент (MUA) меняет флаги на сервере ({_imap_flag('Seen')} — прочитано, "
            f"{_imap_flag('Flagged')} — отмечено, {_imap_flag('Deleted')} — удалить при "
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


TEXTS: dict = {
    f.ImapLogin: _imap_login, f.ImapLogout: _imap_logout, f.ImapSelect: _imap_select,
    f.ImapCreate: _imap_create, f.ImapList: _imap_list, f.ImapAppend: _imap_append,
    f.ImapExpunge: _imap_expunge, f.ImapFetch: _imap_fetch, f.ImapStore: _imap_store,
    f.ImapCopy: _imap_copy, f.ImapMove: _imap_move, f.ImapIdle: _imap_idle, f.ImapError: _imap_error,
}
REASONS: dict = {}
