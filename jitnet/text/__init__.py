"""The text front end: ncc text <-> `Net` (parse, write, equations); the only place that knows Lark."""
