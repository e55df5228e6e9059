"""(placeholder: no commands registered yet)"""


def register(main) -> None:
    return None
