from __future__ import annotations

from pydantic import Field, SecretStr

from nfhub_shared.schemas import ReadSchema, Schema


class LoginRequest(Schema):
    username: str = Field(min_length=1, max_length=320, description="Username or email")
    password: SecretStr = Field(min_length=1, max_length=1024)


class RefreshRequest(Schema):
    refresh_token: SecretStr = Field(min_length=1, max_length=256)


class TokenPair(ReadSchema):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str
    refresh_expires_in: int
    scope: str


class LoginProvider(ReadSchema):
    name: str
    display_name: str
    kind: str = Field(description="password or oidc")
    login_url: str


class LoginProviders(ReadSchema):
    providers: list[LoginProvider]
