"""Russian texts of the queue facts (merged into ../ru.py when the narrator refactor is done)."""
from __future__ import annotations

from ... import facts as f
from .. import plural
from ..markup import code, listing
from ..why import reason


def _queue_seconds(seconds: float) -> str:
    value = f"{round(seconds, 1):g}" if seconds < 1000 else f"{seconds:.0f}"
    return f"{value.replace('.', ',')} с"


def _queue_for(rcpts: tuple[str, ...]) -> str:
    return f" для {listing(rcpts)}" if rcpts else ""


def _queue_reasons(reasons: tuple[f.Reason, ...]) -> str:
    return "; ".join(w for w in (reason("ru", r) for r in reasons) if w)


def _queue_relayed(x: f.Relayed) -> tuple[str, str]:
    return (f"{x.target} принял письмо: оно покидает очередь {x.host}",
            f"{x.target} ответил {code('250')}{_queue_for(x.rcpts)}: теперь письмо у него, и {x.host} "
            f"удаляет его из своей очереди.")


def _queue_retry(x: f.Retry) -> tuple[str, str]:
    return (f"{x.host} пробует снова (попытка {x.attempt}){_queue_for(x.rcpts)}",
            f"Подошло время повтора: {x.host} достаёт письмо{_queue_for(x.rcpts)} из очереди и пробует "
            f"снова (попытка {x.attempt}), начиная заново с запроса к DNS.")


def _queue_deferred(x: f.Deferred) -> tuple[str, str]:
    why = _queue_reasons(x.reasons)
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


TEXTS = {f.Relayed: _queue_relayed, f.Retry: _queue_retry, f.Deferred: _queue_deferred,
         f.Bounced: _queue_bounced, f.Quarantined: _queue_quarantined, f.MdaDelivered: _queue_delivered,
         f.DsnNotice: _queue_dsn}


def _queue_last(r: f.Reason) -> str:
    last = r.get("last")
    return reason("ru", last) if isinstance(last, f.Reason) else ""


def _queue_reply(r: f.Reason) -> str:
    host = r.get("host")
    return f"{host} ответил {code(r['reply'])}" if host else f"сервер ответил {code(r['reply'])}"


def _queue_unreachable(r: f.Reason) -> str:
    last = _queue_last(r)
    detail = f" (последний, {r['host']}: {last})" if last and r.get("host") else (f" ({last})" if last else "")
    return f"не удалось связаться ни с одним MX домена {r['domain']}{detail}"


def _queue_lost(r: f.Reason) -> str:
    last = _queue_last(r)
    return f"соединение с {r['host']} прервалось" + (f" ({last})" if last else "")


def _queue_expired(r: f.Reason) -> str:
    last = _queue_last(r) or "ответа нет"
    attempts = plural.ru(r["attempts"], "попытки", "попыток", "попыток")
    return f"попытки прекращены после {attempts} за {r['lifetime']} с; последняя причина: {last}"


REASONS = {
    f.DeliveryReason.REPLY: _queue_reply,
    f.DeliveryReason.NO_SUCH_USER: lambda r: f"на {r['host']} нет почтового ящика {r['rcpt']}",
    f.DeliveryReason.MAILBOX_WRITE: lambda r: (f"агент доставки (MDA) не смог записать письмо в ящик "
                                               f"{r['rcpt']} ({code(r['error'])})"),
    f.DeliveryReason.UNREACHABLE: _queue_unreachable,
    f.DeliveryReason.CONNECTION_LOST: _queue_lost,
    f.DeliveryReason.EXPIRED: _queue_expired,
    f.DeliveryReason.LEGACY: lambda r: code(r["text"]),
}
