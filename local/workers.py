"""SQS consumers that invoke the same handlers Lambda would, on this machine."""

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import aws
from chalicelib.log import logger

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The few context fields handlers may read."""

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{name}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class QueueWorker:
    """Long-polls one queue and hands each message to a Lambda-style handler.

    A message is deleted only after its handler returns, so a failure is
    redelivered after the visibility timeout and, past the redrive limit,
    lands in the dead-letter queue: the same contract as an SQS event source.
    """

    def __init__(
        self, name: str, queue_url: str, handler: Handler, concurrency: int
    ) -> None:
        self.name = name
        self.queue_url = queue_url
        self.handler = handler
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix=name
        )
        self._slots = threading.Semaphore(concurrency)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        sqs = aws.client("sqs")
        while not self._stop.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                )
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("Queue poll failed", worker=self.name)
                self._stop.wait(1.0)
                continue
            for message in response.get("Messages", []):
                self._slots.acquire()
                self._pool.submit(self._handle, message)

    def _handle(self, message: dict[str, Any]) -> None:
        try:
            self.handler(self._event(message), LambdaContext(self.name))
        except Exception:
            logger.exception(
                "Handler failed; message will be redelivered", worker=self.name
            )
        else:
            aws.client("sqs").delete_message(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        finally:
            self._slots.release()

    def _event(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": message.get("MessageAttributes", {}),
                    "md5OfBody": message.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:local:000000000000:{self.name}",
                    "awsRegion": "us-east-1",
                }
            ]
        }
