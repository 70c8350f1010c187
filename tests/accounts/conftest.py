
from tests.web.conftest import as_role, fast_password_hashing, world  # noqa: F401
