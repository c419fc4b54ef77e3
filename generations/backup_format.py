"""The backup's JSON: Django's fixture format with times to the microsecond.

Django's JSON encoder cuts times to milliseconds (what a JavaScript date holds). The gallery
pages on (created_at, id), so a restore must give back the very times it was given. Django's
own JSON deserializer reads these full ISO times back, so a backup loads as a plain `.json`
fixture.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.serializers import json

NAME = "backup-json"


class ExactJSONEncoder(json.DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


class Serializer(json.Serializer):
    def serialize(self, queryset: Any, **options: Any) -> Any:
        # What is left of the options after Django's own is passed to json.dump.
        options.setdefault("cls", ExactJSONEncoder)
        return super().serialize(queryset, **options)


Deserializer = json.Deserializer
