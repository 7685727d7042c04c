"""``ml314 lcd``: the module's 5-inch LCD (manual 10.1) in the terminal, connected to a running ``ml314 run``."""

from __future__ import annotations

from typing import Annotated

import typer


def lcd_command(
    url: Annotated[
        str, typer.Option(metavar="URL", envvar="ML314_URL", help="the web address `ml314 run` printed")
    ] = "http://127.0.0.1:8314",
    module: Annotated[int, typer.Option(metavar="N", min=1, max=63, help="the module whose LCD to show (its ID)")] = 1,
) -> None:
    """Show a module's LCD (main page, cells, temperatures, settings, protocol selection with the PIN)."""
    import asyncio  # noqa: PLC0415

    from ml314.hmi.lcd_app import LcdApp  # noqa: PLC0415
    from ml314.hmi.lcd_client import LcdClient  # noqa: PLC0415

    async def check() -> None:
        client = LcdClient(url)
        try:
            await client.fetch(module)  # an unreachable server or a missing module: one line, exit 2
        finally:
            await client.close()

    asyncio.run(check())
    LcdApp(LcdClient(url), module).run()
