"""Backend-neutral building blocks: exceptions, the document codec and the backend contract."""
