"""A scripted backend for tests and dry runs: ``fake/repeat:TEXT`` or ``fake/script:PATH``.

A script is the JSON that the loopback test server reads (``{"default": str, "rules": [{"match":
str, "responses": [str, ...], "finish_reason": "stop"}]}``): the first rule whose ``match`` occurs
in the prompt's last user turn (or text) answers, cycling through ``responses`` for n > 1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cothub.errors import CothubError
from cothub.testing.script import Script, apply_limits, count_tokens
from cothub.types import ApiStyle, Completion, GenerateConfig, Prompt


class FakeBackend:
    def __init__(self, name: str, style: ApiStyle) -> None:
        kind, _, arg = name.partition(":")
        if kind == "repeat":
            self._script = Script(default=arg)
            digest = hashlib.sha256(arg.encode()).hexdigest()
        elif kind == "script":
            path = Path(arg).expanduser()
            if not path.is_file():
                raise CothubError(f"fake script {arg!r} not found; use fake/script:PATH.json")
            try:
                self._script = Script.load(path)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise CothubError(f"fake script {path}: {e}; see `cothub.models.fake`") from e
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            raise CothubError(
                f"unknown fake model {name!r}; use fake/repeat:TEXT or fake/script:PATH.json"
            )
        self._name = name if kind == "repeat" else f"script:{digest[:12]}"
        self._digest = digest
        self._style: ApiStyle = style

    @property
    def identity(self) -> dict[str, object]:
        return {"provider": "fake", "model": self._name, "script": self._digest, "api": self._style}

    @property
    def style(self) -> ApiStyle:
        return self._style

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        target = prompt.messages[-1].content if prompt.style == "chat" else prompt.text
        out: list[Completion] = []
        for raw in self._script.choices({}, target, config.n):
            choice = apply_limits(raw, list(prompt.stop), config.max_tokens)
            out.append(
                Completion(
                    text=choice.text,
                    finish_reason="length" if choice.finish_reason == "length" else "stop",
                    reasoning=choice.reasoning or None,
                    prompt_tokens=count_tokens(target) if not out else 0,
                    completion_tokens=count_tokens(choice.text),
                )
            )
        return out

    async def aclose(self) -> None:
        pass
