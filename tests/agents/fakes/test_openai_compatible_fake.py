"""The OpenAI-compatible fake, read by the official `openai` client: if the client takes it, so may we."""

import base64

import openai
import pytest

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


@pytest.fixture
def fake_server(fake_platform):
    return fake_platform("openai_compatible")


@pytest.fixture
def client(fake_server):
    with openai.OpenAI(api_key="demo-key", base_url=fake_server.url + "/v1", max_retries=0) as client:
        yield client


def test_the_client_reads_a_whole_completion_with_its_usage(client):
    completion = client.chat.completions.create(
        model="fake-gpt",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "What time is it?"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].finish_reason == "stop"
    text = completion.choices[0].message.content
    assert "You said: “What time is it?”" in text
    assert "2 earlier message(s) came with yours" in text
    assert completion.usage.completion_tokens > 0
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_the_client_streams_chunks_and_gets_the_usage_last(client):
    stream = client.chat.completions.create(
        model="fake-gpt",
        messages=[{"role": "user", "content": "Stream please [[words=12]]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 12
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12
    assert all(c.usage is None for c in chunks[:-1])


def test_without_include_usage_no_usage_chunk_comes(client):
    chunks = list(
        client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "Hi [[words=3]]"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)


def test_the_client_sends_images_as_content_parts(client):
    completion = client.chat.completions.create(
        model="fake-vision",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert "1 image(s) in the request" in completion.choices[0].message.content


def test_the_client_lists_the_models(client):
    assert [m.id for m in client.models.list()] == ["fake-gpt", "fake-vision"]


def test_errors_become_the_clients_own_exceptions_with_the_message(client):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "Hi"}])
    assert unknown.value.code == "model_not_found"
    assert "nope" in unknown.value.message

    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "[[fail:429]]"}]
        )
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "[[fail:503]]"}], stream=True
        )
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="fake-gpt", messages=[{"role": "assistant", "content": "Hi"}])
    assert bad.value.param == "messages"


def test_a_wrong_key_is_an_authentication_error(fake_server):
    client = openai.OpenAI(api_key="wrong", base_url=fake_server.url + "/v1", max_retries=0)
    with client, pytest.raises(openai.AuthenticationError) as refused:
        client.models.list()
    assert refused.value.code == "invalid_api_key"


def test_an_error_in_the_middle_of_a_stream_is_raised_by_the_client(client):
    stream = client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "Go [[fail:stream-error]]"}], stream=True
    )
    with pytest.raises(openai.APIError, match="crashed"):
        list(stream)
