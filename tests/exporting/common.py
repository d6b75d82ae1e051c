"""Constants shared by the export tests."""

API_KEY = "sk-proj-SECRET-openai-key-4242"
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
