"""Whether an account may review flagged images: asked by nearly every page and JSON answer
(what a viewer may see depends on it), so answered by one small query and remembered on the
account object for the rest of its request.

`user.has_perm` answers the same question through Django's ModelBackend, which loads every
permission the account holds, directly and through its groups: two queries whose building in
the ORM took 2.5 ms of a 14 ms gallery page. Permissions here come from that backend alone
(`AUTHENTICATION_BACKENDS`), and `tests/test_reviewers.py` holds the two to the same answers.
"""

from __future__ import annotations

from django.db import connection

APP_LABEL = "generations"
CODENAME = "review_image"
PERMISSION = f"{APP_LABEL}.{CODENAME}"

# Set on the account object by the first answer; a new request loads a new object.
_REMEMBERED = "_may_review_images"


def may_review(user) -> bool:
    """Whether this signed-in account holds the review permission (as `has_perm` says)."""
    try:
        return getattr(user, _REMEMBERED)
    except AttributeError:
        pass
    if not user.is_active:
        answer = False
    elif user.is_superuser:
        answer = True
    else:
        with connection.cursor() as cursor:
            cursor.execute(HOLDS_PERMISSION_SQL, [APP_LABEL, CODENAME, user.pk, user.pk])
            answer = cursor.fetchone() is not None
    setattr(user, _REMEMBERED, answer)
    return answer


# Django's own auth tables (the project keeps `auth.User`): held directly, or through a group.
HOLDS_PERMISSION_SQL = """
SELECT 1 FROM auth_permission p JOIN django_content_type t ON t.id = p.content_type_id
WHERE t.app_label = %s AND p.codename = %s AND (
    EXISTS (SELECT 1 FROM auth_user_user_permissions d
            WHERE d.permission_id = p.id AND d.user_id = %s)
    OR EXISTS (SELECT 1 FROM auth_group_permissions g
               JOIN auth_user_groups m ON m.group_id = g.group_id
               WHERE g.permission_id = p.id AND m.user_id = %s))
"""
