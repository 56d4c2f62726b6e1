"""Plain-language explanations of each hop, in English and Russian.

Terms follow the seed article (MUA, MTA, MDA, MX).  Each function returns {"en": ..., "ru": ...};
the simulator attaches the result to the event, the browser shows the chosen language.
"""
from __future__ import annotations


def _t(en: str, ru: str) -> dict[str, str]:
    return {"en": en, "ru": ru}


def submission(user: str, msa: str, rcpts: list[str], queued: str) -> dict[str, str]:
    to = ", ".join(rcpts)
    return _t(
        f"{user}'s mail program (the MUA) connected to the submission server {msa} (the MSA), logged in "
        f"with AUTH and handed over a message for {to}. The MSA wrote it to its queue on disk and only "
        f"then answered 250: from now on {msa} is responsible for the message (queue id {queued}).",
        f"Почтовая программа {user} (MUA) подключилась к серверу отправки {msa} (MSA), вошла командой "
        f"AUTH и передала письмо для {to}. MSA записал письмо в свою очередь на диск и только после "
        f"этого ответил 250: теперь за письмо отвечает {msa} (номер в очереди {queued}).")


def relay_received(sender_host: str, host: str, final: bool, rcpts: list[str]) -> dict[str, str]:
    to = ", ".join(rcpts)
    if final:
        return _t(
            f"The MTA {sender_host} connected to {host}, the MX of the recipient's domain, on port 25 "
            f"(the sandbox's MX port) and delivered the message for {to} with SMTP: EHLO, MAIL FROM "
            f"(the envelope sender), RCPT TO (the envelope recipients), DATA. {host} stored it and "
            f"answered 250; its MDA will now put it into the mailbox.",
            f"MTA {sender_host} подключился к {host}, MX-серверу домена получателя, на порт 25 (MX-порт "
            f"песочницы) и передал письмо для {to} по SMTP: EHLO, MAIL FROM (отправитель конверта), "
            f"RCPT TO (получатели конверта), DATA. {host} сохранил письмо и ответил 250; теперь его MDA "
            f"положит письмо в почтовый ящик.")
    return _t(
        f"{sender_host} handed the message for {to} to {host}, a backup MX. A backup MX does not own "
        f"mailboxes: it keeps the message in its queue and forwards it to the primary MX when that one "
        f"is reachable.",
        f"{sender_host} передал письмо для {to} серверу {host} — резервному MX. У резервного MX нет "
        f"почтовых ящиков: он держит письмо в своей очереди и передаст его основному MX, когда тот "
        f"станет доступен.")


def by_hand(peer: str, host: str, ok: bool) -> dict[str, str]:
    if ok:
        return _t(f"A client at {peer} (typed by hand, or swaks/nc) talked SMTP to {host} directly and the "
                  f"server accepted the message.",
                  f"Клиент с адреса {peer} (вручную, swaks или nc) поговорил с {host} по SMTP напрямую, и "
                  f"сервер принял письмо.")
    return _t(f"A client at {peer} talked SMTP to {host}; the session ended without an accepted message. "
              f"Read the server's reply codes: 4xx means 'try later', 5xx means 'no'.",
              f"Клиент с адреса {peer} поговорил с {host} по SMTP; сеанс закончился без принятого письма. "
              f"Посмотрите коды ответов: 4xx — «попробуйте позже», 5xx — «нет».")


def rejected(host: str, reply: str) -> dict[str, str]:
    return _t(f"{host} refused: \"{reply}\". A 5xx reply is permanent: the sending side must not retry; a "
              f"4xx reply is temporary.",
              f"{host} отказал: «{reply}». Ответ 5xx окончательный: отправитель не должен повторять; "
              f"ответ 4xx временный.")


def dns_lookup(host: str, domain: str, answers: list[str], chosen: str, reason: str, error: str) -> dict[str, str]:
    if error:
        return _t(f"{host} asked the DNS server for the MX records of {domain}. Result: {error}.",
                  f"{host} спросил у DNS-сервера MX-записи домена {domain}. Итог: {error}.")
    listed = "; ".join(answers) or "(no MX records)"
    return _t(
        f"To know where to send mail for {domain}, the MTA {host} asked DNS for its MX records: {listed}. "
        f"The lowest preference number wins, so it tries {chosen} first ({reason}).",
        f"Чтобы узнать, куда отправлять почту для {domain}, MTA {host} запросил в DNS MX-записи: {listed}. "
        f"Выигрывает наименьшее число предпочтения, поэтому сначала пробуется {chosen} ({reason}).")


def attempt_failed(host: str, target: str, error: str) -> dict[str, str]:
    return _t(f"{host} tried to connect to {target}, but: {error}. It moves on to the next MX in the list, "
              f"if there is one.",
              f"{host} попытался подключиться к {target}, но: {error}. Он переходит к следующему MX в "
              f"списке, если он есть.")


def deferred(host: str, rcpts: list[str], reason: str, retry_in: float) -> dict[str, str]:
    to = ", ".join(rcpts)
    return _t(f"Delivery to {to} failed for now ({reason}). {host} keeps the message in its queue and will "
              f"try again in {retry_in:.3g} s. A real MTA waits minutes and retries for days; the sandbox "
              f"compresses time.",
              f"Доставка для {to} пока не удалась ({reason}). {host} оставляет письмо в очереди и попробует "
              f"снова через {retry_in:.3g} с. Настоящий MTA ждёт минуты и пытается несколько дней; песочница "
              f"сжимает время.")


def retry(host: str, rcpts: list[str], attempt: int) -> dict[str, str]:
    to = ", ".join(rcpts)
    return _t(f"The retry time has come: {host} takes the message for {to} out of its queue and tries again "
              f"(attempt {attempt}), starting over with a fresh DNS lookup.",
              f"Подошло время повтора: {host} достаёт письмо для {to} из очереди и пробует снова "
              f"(попытка {attempt}), начиная заново с запроса DNS.")


def relayed(host: str, target: str, rcpts: list[str]) -> dict[str, str]:
    to = ", ".join(rcpts)
    return _t(f"{target} answered 250 for {to}: it now owns the message, and {host} removes it from its queue.",
              f"{target} ответил 250 для {to}: теперь письмо у него, и {host} удаляет его из своей очереди.")


def bounced(host: str, rcpts: list[str], reason: str, sender: str) -> dict[str, str]:
    to = ", ".join(rcpts)
    if not sender:
        return _t(f"The message for {to} cannot be delivered ({reason}). It is itself a bounce (its envelope "
                  f"sender is empty), and a bounce is never bounced, so {host} drops it.",
                  f"Письмо для {to} доставить нельзя ({reason}). Это само по себе уведомление о недоставке "
                  f"(пустой отправитель конверта), а на уведомление не отвечают уведомлением, поэтому {host} "
                  f"его удаляет.")
    return _t(f"The message for {to} cannot be delivered: {reason}. {host} gives up and sends a delivery "
              f"status notification (a bounce, RFC 3464) back to the envelope sender {sender}, with the "
              f"original headers attached.",
              f"Письмо для {to} не может быть доставлено: {reason}. {host} прекращает попытки и отправляет "
              f"отправителю конверта {sender} уведомление о недоставке (bounce, RFC 3464) с заголовками "
              f"исходного письма.")


def mda_delivered(host: str, address: str, path: str) -> dict[str, str]:
    return _t(f"The MDA of {host} wrote the message into {address}'s mailbox (Maildir): first into tmp/, then "
              f"renamed into new/, so the mailbox never holds half a message. Its file: {path}. Now the "
              f"user's mail program can fetch it with POP3 or IMAP.",
              f"MDA сервера {host} записал письмо в почтовый ящик {address} (Maildir): сначала в tmp/, затем "
              f"переименовал в new/, поэтому в ящике никогда не бывает половины письма. Файл: {path}. Теперь "
              f"почтовая программа пользователя может забрать его по POP3 или IMAP.")


def world_change(what: str, detail: str) -> dict[str, str]:
    return _t(f"The teacher changed the world: {detail}. The next DNS lookup and connection see the change.",
              f"Преподаватель изменил мир: {detail}. Следующий запрос DNS и подключение увидят изменение.")


def dns_served(peer: str, question: str, rcode: str, answers: list[str]) -> dict[str, str]:
    listed = "; ".join(answers) or "—"
    return _t(f"A client at {peer} (dig, or a student's program) asked the sandbox DNS: {question}. "
              f"Answer: {rcode}; {listed}. The server is authoritative for the sandbox zones only and "
              f"refuses everything else.",
              f"Клиент с адреса {peer} (dig или программа студента) спросил DNS песочницы: {question}. "
              f"Ответ: {rcode}; {listed}. Сервер авторитативен только для зон песочницы и отказывает в "
              f"остальном.")


def quarantined(host: str, queue_id: str) -> dict[str, str]:
    return _t(f"{host} could not handle message {queue_id} because of an internal error, for longer than the "
              f"queue lifetime. It set the message aside in its queue's quarantine folder on disk, so nothing "
              f"is lost, and stopped trying.",
              f"{host} не смог обработать письмо {queue_id} из-за внутренней ошибки дольше срока жизни очереди. "
              f"Он отложил письмо в папку карантина своей очереди на диске, чтобы ничего не потерять, и "
              f"прекратил попытки.")
