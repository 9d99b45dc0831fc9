"""The SMS inbox on the real database: Twilio's retries of one message, even concurrent
ones, get the first answer and make one row."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import NOW
from ticketing.inbox.services import InboundSms, handle_inbound_sms
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.unit_of_work import UnitOfWork

pytestmark = pytest.mark.integration

SID = "SM" + "d0" * 16
MEMBER = "+8613903710001"


def test_a_retry_arriving_while_the_first_is_uncommitted_gets_the_first_answer(
    db_engine: Engine,
) -> None:
    """The retry's insert waits on the first's uncommitted row, then meets the unique SID:
    it answered 500 (IntegrityError) where Twilio should get the first reply."""
    first = Session(db_engine)
    try:
        first.add(
            SmsMessage(
                direction=SmsDirection.INBOUND,
                to_number="+8637112345",
                from_number=MEMBER,
                body="A 2612080001",
                status=SmsStatus.RECEIVED,
                purpose="command:accepted",
                provider_sid=SID,
                reply="the first answer",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        first.flush()  # the first request, mid-transaction

        def retry() -> str:
            with UnitOfWork(sessionmaker(db_engine)) as uow:
                return handle_inbound_sms(
                    uow, InboundSms(SID, MEMBER, "+8637112345", "A 2612080001"), NOW
                )

        with ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(retry)
            time.sleep(0.5)  # the retry is now waiting on the first's row
            first.commit()
            assert answer.result(timeout=30) == "the first answer"
        with Session(db_engine) as check:
            rows = check.scalar(
                select(func.count()).select_from(SmsMessage).where(SmsMessage.provider_sid == SID)
            )
        assert rows == 1
    finally:
        first.rollback()
        first.close()
        with Session(db_engine) as session, session.begin():
            session.execute(delete(SmsMessage).where(SmsMessage.provider_sid == SID))
