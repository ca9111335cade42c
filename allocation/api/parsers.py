"""The API's body parsers: JSON, form and multipart, refusing control characters in any string.

Invariant: no string of a request body (a value at any depth, or a key)
reaches a view, a serializer or the database with a control character
other than tab, line feed or carriage return (``allocation.validators``);
the request is a 400 in the API's one error body naming the field by its
path (``eligible[0].site``). Being the parsers every view uses
(``DEFAULT_PARSER_CLASSES``), this also covers fields that never pass a
``CharField`` (slugs of related objects, custom fields) and endpoints added
later.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.utils.datastructures import MultiValueDict
from rest_framework import parsers
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

from allocation.validators import text_error


def _strings(data: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, string) for every key and string value in parsed data."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, MultiValueDict):
        for key, values in data.lists():
            yield from _strings(key, path or api_settings.NON_FIELD_ERRORS_KEY)
            for value in values:
                yield from _strings(value, f"{path}.{key}" if path else key)
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from _strings(key, path or api_settings.NON_FIELD_ERRORS_KEY)
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, f"{path}[{index}]")


def refuse_control_characters(data: Any) -> Any:
    """``data`` unchanged, or a ``ValidationError`` naming the first string that holds a control character."""
    for path, value in _strings(data, ""):
        if (message := text_error(value)) is not None:
            raise ValidationError({path or api_settings.NON_FIELD_ERRORS_KEY: [message]})
    return data


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return refuse_control_characters(super().parse(stream, media_type, parser_context))


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return refuse_control_characters(super().parse(stream, media_type, parser_context))


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        refuse_control_characters(parsed.data)
        return parsed
