"""Send a message with the Python client and follow it to delivery.

With `switchboard dev` running, from the project root:

    uv run python examples/client_send.py +14155550123
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from switchboard.messaging.v1 import messaging_pb2 as pb

from switchboard_client import Client, InvalidArgument


async def main(to: str, api_key: str) -> None:
    async with Client("127.0.0.1:50051", api_key) as client:
        try:
            message = await client.send_message(to=to, template="order_shipped", params=["Ada", "#1042"])
        except InvalidArgument as error:
            for violation in error.violations:
                print(f"{violation.field}: {violation.description}")
            return
        print(f"stored {message.id}")
        for _ in range(50):
            message = await client.get_message(message.id)
            print(pb.MessageStatus.Name(message.status))
            if message.status in (pb.MESSAGE_STATUS_READ, pb.MESSAGE_STATUS_FAILED):
                return
            await asyncio.sleep(0.2)


if __name__ == "__main__":
    dev = json.loads(Path(".switchboard/dev.json").read_text())
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "+14155550123", dev["api_key"]))
