"""The portal as an OpenID Connect provider: apps, what people allowed them, authorization codes,
tokens and the keys that sign them."""
