"""The browsable API and OPTIONS for views that name their serializers per action.

The API's viewsets keep an input serializer per action (``InputSerializer``,
``DecideInputSerializer``, ...) instead of one ``serializer_class``; DRF's
browsable renderer and its OPTIONS metadata ask every view for that one
class and fail with an AssertionError (a 500). Invariants:
- a view without a ``serializer_class`` (nor its own ``get_serializer_class``)
  renders in the browser with the raw content form (media type and body)
  for each method the user may use, and no generated field form;
- OPTIONS answers 200 for every route: name, description, the media types it
  renders and parses; ``actions`` (the fields of PUT and POST) only for
  views that name a serializer class. The OpenAPI schema (``/api/v1/schema/``)
  describes every operation's fields.
"""

from __future__ import annotations

from typing import Any

from django import forms
from rest_framework import metadata, renderers
from rest_framework.request import Request, override_method


def has_serializer(view: Any) -> bool:
    """Whether ``view.get_serializer()`` can answer (DRF asserts otherwise)."""
    # Imported here: this module is loaded while DRF reads its settings, before rest_framework.generics can be.
    from rest_framework.generics import GenericAPIView

    getter = getattr(type(view), "get_serializer", None)
    if getter is None:
        return False
    if getter is not GenericAPIView.get_serializer:
        return True  # the view builds its serializer itself (e.g. the token view)
    own_class_getter = type(view).get_serializer_class is not GenericAPIView.get_serializer_class
    return own_class_getter or getattr(view, "serializer_class", None) is not None


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    def get_rendered_html_form(self, data: Any, view: Any, method: str, request: Request) -> Any:
        if not has_serializer(view) and method not in ("DELETE", "OPTIONS"):
            return None
        return super().get_rendered_html_form(data, view, method, request)

    def get_raw_data_form(self, data: Any, view: Any, method: str, request: Request) -> Any:
        if has_serializer(view):
            return super().get_raw_data_form(data, view, method, request)
        with override_method(view, request, method) as overridden:
            if not self.show_form_for_method(view, method, overridden, None):
                return None
        choices = [(parser.media_type, parser.media_type) for parser in view.parser_classes]

        class ContentForm(forms.Form):
            # The names and attributes DRF's own raw form uses, which its page script reads.
            _content_type = forms.ChoiceField(
                label="Media type",
                choices=choices,
                initial=choices[0][0],
                widget=forms.Select(attrs={"data-override": "content-type"}),
            )
            _content = forms.CharField(
                label="Content", required=False, widget=forms.Textarea(attrs={"data-override": "content"})
            )

        return ContentForm()


class Metadata(metadata.SimpleMetadata):
    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        if not has_serializer(view):
            return {}
        return super().determine_actions(request, view)

    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        found = super().determine_metadata(request, view)
        if not found.get("actions"):
            found.pop("actions", None)
        return found
