"""Who may review flagged images: the same answers as Django's `has_perm`, in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations import reviewers
from generations.models import is_moderator
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def gwen(django_user_model):
    """Reviews through her group, not a permission of her own."""
    user = django_user_model.objects.create_user("gwen", password=PASSWORD)
    reviewers_group = Group.objects.create(name="Reviewers")
    reviewers_group.permissions.add(Permission.objects.get(codename=reviewers.CODENAME))
    user.groups.add(reviewers_group)
    return user


@pytest.fixture
def gary(django_user_model):
    """In a group that holds another permission only."""
    user = django_user_model.objects.create_user("gary", password=PASSWORD)
    editors = Group.objects.create(name="Editors")
    editors.permissions.add(Permission.objects.get(codename="change_generation"))
    user.groups.add(editors)
    user.user_permissions.add(Permission.objects.get(codename="view_generation"))
    return user


@pytest.fixture
def retired_maude(maude):
    """A moderator whose account was deactivated."""
    maude.is_active = False
    maude.save()
    return maude


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("maude", True),
        ("gwen", True),
        ("admin", True),
        ("retired_maude", False),
        ("stella", False),
        ("alice", False),
        ("gary", False),
    ],
)
def test_the_answer_is_the_one_has_perm_gives(request, django_user_model, who, expected):
    user = request.getfixturevalue(who)
    # Fresh objects for each question: neither answer may come from the other's memory.
    assert django_user_model.objects.get(pk=user.pk).has_perm(reviewers.PERMISSION) is expected
    assert reviewers.may_review(django_user_model.objects.get(pk=user.pk)) is expected


def test_a_permission_of_the_same_name_in_another_app_does_not_count(alice):
    stray = Permission.objects.filter(codename="view_user").get()
    stray.pk = None
    stray.codename = reviewers.CODENAME  # auth.review_image
    stray.save()
    alice.user_permissions.add(stray)
    assert reviewers.may_review(alice) is False


def test_anonymous_visitors_are_not_moderators():
    assert is_moderator(AnonymousUser()) is False


def test_one_query_answers_and_the_account_remembers_it_for_its_request(maude, alice):
    with CaptureQueriesContext(connection) as queries:
        assert is_moderator(maude) is True
        assert is_moderator(maude) is True
        assert is_moderator(alice) is False
        assert is_moderator(alice) is False
    assert len(queries) == 2


def test_superusers_and_inactive_accounts_need_no_query(admin, retired_maude):
    with CaptureQueriesContext(connection) as queries:
        assert reviewers.may_review(admin) is True
        assert reviewers.may_review(retired_maude) is False
    assert len(queries) == 0


def test_a_permission_granted_since_counts_on_the_next_request(alice, client):
    client.force_login(alice)
    assert 'href="/moderation/"' not in client.get("/gallery/").content.decode()
    alice.user_permissions.add(Permission.objects.get(codename=reviewers.CODENAME))
    assert 'href="/moderation/"' in client.get("/gallery/").content.decode()
