"""The request vocabulary the server and batch share: OpenAI's fields, llama-server's and dyntemp's
(``schema``), what a request becomes — checked settings, prompts and limits (``jobs``) — and the
errors in OpenAI's schema that name the field at fault (``errors``)."""
