import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from agents.models import Agent
from conversations.models import Conversation

PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_user(django_user_model):
    def make(username: str):
        return django_user_model.objects.create_user(
            username=username, email=f"{username}@example.com", password=PASSWORD
        )

    return make


@pytest.fixture
def alice(make_user):
    """Owner of the conversations under test."""
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    """A teammate: signed in, same agents, but not the owner."""
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    """An outsider: signed in, but not in the groups a limited agent is for."""
    return make_user("carol")


@pytest.fixture
def research_team(alice, bob):
    """The group alice and bob are in; carol is not."""
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="Research")
    group.user_set.add(alice, bob)
    return group


@pytest.fixture
def team_agent(sketricgen_credential, research_team):
    """An agent limited to the research team."""
    agent = Agent.objects.create(
        name="Team Helper",
        slug="team-helper",
        credential=sketricgen_credential,
        upstream_agent_id="agent-demo",
    )
    agent.groups.add(research_team)
    return agent


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def sketricgen_agent(sketricgen_credential):
    return Agent.objects.create(
        name="Helper", slug="helper", credential=sketricgen_credential, upstream_agent_id="agent-demo"
    )


@pytest.fixture
def conversation(alice, sketricgen_agent):
    return Conversation.objects.create(owner=alice, agent=sketricgen_agent)


def session_cookie(user) -> str:
    return signed_in_client(user).cookies["sessionid"].value


@pytest.fixture
def connect():
    """Open the chat websocket for a conversation as a user, through the whole ASGI stack."""
    from chatsite.asgi import application

    opened: list[WebsocketCommunicator] = []

    async def open_socket(
        user, conversation_id: str = "", origin: str = "http://127.0.0.1:8000", cookie=None, path: str = ""
    ):
        """`path` opens another socket than the conversation's (a share link's)."""
        headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1:8000")]
        if user is not None:
            cookie = cookie or await session_cookie_async(user)
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        path = path or f"/ws/conversations/{conversation_id}/"
        communicator = WebsocketCommunicator(application, path, headers)
        opened.append(communicator)
        connected, _ = await communicator.connect()
        return connected, communicator

    yield open_socket


async def session_cookie_async(user) -> str:
    from asgiref.sync import sync_to_async

    return await sync_to_async(session_cookie)(user)
