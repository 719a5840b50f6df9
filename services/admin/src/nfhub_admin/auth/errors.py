from nfhub_shared.errors import BadRequest, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    title = "Invalid credentials"


class InvalidRefreshToken(Unauthorized):
    title = "Invalid refresh token"


class RefreshTokenReuse(Unauthorized):
    title = "Refresh token reused"


class UnknownProvider(NotFound):
    title = "Unknown login provider"


class InvalidLoginState(BadRequest):
    title = "Invalid login state"


class OidcLoginFailed(Unauthorized):
    title = "OpenID Connect login failed"
