"""Root test configuration. Each test folder keeps its own fixtures in its own conftest."""
