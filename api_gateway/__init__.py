"""The HTTP gateway: submission, polling, review and sign-off."""
