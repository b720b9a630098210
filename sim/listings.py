"""What each simulated venue lists and what it calls each coin: the simulator's own tables.

Written from the providers' documentation (shared/reference/provider-apis.md: its ticker ->
symbol table, each venue's symbol form and Kraken's renamed result keys), never read from the
product's `providers/` tables, so a wrong id there is not repeated here and fails a test over
HTTP. Where the reference is silent (coins beyond its table), the values are the venues' real
ids as public client code uses them; those are marked UNCONFIRMED in the reference's sense.

Every venue answers only for the ids and pairs below, the way the real API answers an unknown one.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Listing:
    """A coin of the simulated market: its ticker, its name as headlines write it, its rank."""
    ticker: str
    name: str
    rank: int


# The top coins by market cap, in rank order (the order seeds the news desks' coin choice).
UNIVERSE: tuple[Listing, ...] = tuple(Listing(t, n, r) for r, (t, n) in enumerate((
    ("BTC", "Bitcoin"), ("ETH", "Ethereum"), ("USDT", "Tether"), ("XRP", "XRP"),
    ("BNB", "BNB"), ("SOL", "Solana"), ("USDC", "USDC"), ("DOGE", "Dogecoin"),
    ("TRX", "TRON"), ("ADA", "Cardano"), ("HYPE", "Hyperliquid"), ("LINK", "Chainlink"),
    ("XLM", "Stellar"), ("SUI", "Sui"), ("BCH", "Bitcoin Cash"), ("AVAX", "Avalanche"),
    ("HBAR", "Hedera"), ("LTC", "Litecoin"), ("TON", "Toncoin"), ("SHIB", "Shiba Inu"),
    ("DOT", "Polkadot"), ("XMR", "Monero"), ("UNI", "Uniswap"), ("PEPE", "Pepe"),
    ("AAVE", "Aave"), ("NEAR", "NEAR Protocol"), ("APT", "Aptos"),
    ("ICP", "Internet Computer"), ("ETC", "Ethereum Classic"), ("POL", "POL (ex-MATIC)"),
    ("ATOM", "Cosmos"), ("FIL", "Filecoin"), ("ARB", "Arbitrum"), ("ONDO", "Ondo"),
    ("ALGO", "Algorand"), ("VET", "VeChain"), ("RENDER", "Render"), ("OP", "Optimism"),
    ("INJ", "Injective"), ("DAI", "Dai"), ("TAO", "Bittensor"), ("ENA", "Ethena"),
    ("WLD", "Worldcoin"), ("SEI", "Sei"), ("BONK", "Bonk"), ("TIA", "Celestia"),
    ("JUP", "Jupiter"), ("FET", "Artificial Superintelligence Alliance"), ("QNT", "Quant"),
    ("STX", "Stacks"),
), start=1))

BY_TICKER: dict[str, Listing] = {c.ticker: c for c in UNIVERSE}


def _symbols(suffix: str, text: str) -> dict[str, str]:
    """Exchange symbol -> ticker for a whitespace-separated list of `<BASE><suffix>` symbols."""
    out = {}
    for symbol in text.split():
        if not symbol.endswith(suffix) or symbol[:-len(suffix)] not in BY_TICKER:
            raise ValueError(f"{symbol!r} is not <ticker>{suffix} for a coin of the universe")
        out[symbol] = symbol[:-len(suffix)]
    return out


# ---------------------------------------------------------------- aggregators: id -> ticker

# CoinGecko coin ids (`/simple/price?ids=`, `/coins/{id}/ohlc`); `/coins/list` maps them.
COINGECKO: dict[str, str] = {
    "bitcoin": "BTC", "ethereum": "ETH", "tether": "USDT", "ripple": "XRP",
    "binancecoin": "BNB", "solana": "SOL", "usd-coin": "USDC", "dogecoin": "DOGE",
    "tron": "TRX", "cardano": "ADA", "hyperliquid": "HYPE", "chainlink": "LINK",
    "stellar": "XLM", "sui": "SUI", "bitcoin-cash": "BCH", "avalanche-2": "AVAX",
    "hedera-hashgraph": "HBAR", "litecoin": "LTC", "the-open-network": "TON",
    "shiba-inu": "SHIB", "polkadot": "DOT", "monero": "XMR", "uniswap": "UNI", "pepe": "PEPE",
    "aave": "AAVE", "near": "NEAR", "aptos": "APT", "internet-computer": "ICP",
    "ethereum-classic": "ETC", "polygon-ecosystem-token": "POL", "cosmos": "ATOM",
    "filecoin": "FIL", "arbitrum": "ARB", "ondo-finance": "ONDO", "algorand": "ALGO",
    "vechain": "VET", "render-token": "RENDER", "optimism": "OP",
    "injective-protocol": "INJ", "dai": "DAI", "bittensor": "TAO", "ethena": "ENA",
    "worldcoin-wld": "WLD", "sei-network": "SEI", "bonk": "BONK", "celestia": "TIA",
    "jupiter-exchange-solana": "JUP", "fetch-ai": "FET", "quant-network": "QNT",
    "blockstack": "STX",
}

# CoinPaprika ids, `{symbol}-{name-slug}` as first registered (ids outlive rebrands: RNDR, FET).
COINPAPRIKA: dict[str, str] = {
    "btc-bitcoin": "BTC", "eth-ethereum": "ETH", "usdt-tether": "USDT", "xrp-xrp": "XRP",
    "bnb-binance-coin": "BNB", "sol-solana": "SOL", "usdc-usd-coin": "USDC",
    "doge-dogecoin": "DOGE", "trx-tron": "TRX", "ada-cardano": "ADA",
    "hype-hyperliquid": "HYPE", "link-chainlink": "LINK", "xlm-stellar": "XLM",
    "sui-sui": "SUI", "bch-bitcoin-cash": "BCH", "avax-avalanche": "AVAX",
    "hbar-hedera-hashgraph": "HBAR", "ltc-litecoin": "LTC", "ton-toncoin": "TON",
    "shib-shiba-inu": "SHIB", "dot-polkadot": "DOT", "xmr-monero": "XMR",
    "uni-uniswap": "UNI", "pepe-pepe": "PEPE", "aave-new": "AAVE",
    "near-near-protocol": "NEAR", "apt-aptos": "APT", "icp-internet-computer": "ICP",
    "etc-ethereum-classic": "ETC", "pol-polygon-ecosystem-token": "POL", "atom-cosmos": "ATOM",
    "fil-filecoin": "FIL", "arb-arbitrum": "ARB", "ondo-ondo": "ONDO",
    "algo-algorand": "ALGO", "vet-vechain": "VET", "rndr-render-token": "RENDER",
    "op-optimism": "OP", "inj-injective-protocol": "INJ", "dai-dai": "DAI",
    "tao-bittensor": "TAO", "ena-ethena": "ENA", "wld-worldcoin": "WLD", "sei-sei": "SEI",
    "bonk-bonk": "BONK", "tia-celestia": "TIA", "jup-jupiter": "JUP", "fet-fetch-ai": "FET",
    "qnt-quant": "QNT", "stx-blockstack": "STX",
}

# CoinCap slugs (`/v3/assets/{slug}`, `?ids=`).
COINCAP: dict[str, str] = {
    "bitcoin": "BTC", "ethereum": "ETH", "tether": "USDT", "xrp": "XRP",
    "binance-coin": "BNB", "solana": "SOL", "usd-coin": "USDC", "dogecoin": "DOGE",
    "tron": "TRX", "cardano": "ADA", "hyperliquid": "HYPE", "chainlink": "LINK",
    "stellar": "XLM", "sui": "SUI", "bitcoin-cash": "BCH", "avalanche": "AVAX",
    "hedera-hashgraph": "HBAR", "litecoin": "LTC", "toncoin": "TON", "shiba-inu": "SHIB",
    "polkadot": "DOT", "monero": "XMR", "uniswap": "UNI", "pepe": "PEPE", "aave": "AAVE",
    "near-protocol": "NEAR", "aptos": "APT", "internet-computer": "ICP",
    "ethereum-classic": "ETC", "polygon-ecosystem-token": "POL", "cosmos": "ATOM",
    "filecoin": "FIL", "arbitrum": "ARB", "ondo": "ONDO", "algorand": "ALGO",
    "vechain": "VET", "render-token": "RENDER", "optimism": "OP",
    "injective-protocol": "INJ", "multi-collateral-dai": "DAI", "bittensor": "TAO",
    "ethena": "ENA", "worldcoin-org": "WLD", "sei": "SEI", "bonk1": "BONK",
    "celestia": "TIA", "jupiter": "JUP", "fetch-ai": "FET", "quant": "QNT", "stacks": "STX",
}

# CryptoCompare `fsym`/`fsyms`: plain upper-case tickers.
CRYPTOCOMPARE: frozenset[str] = frozenset("""
    BTC ETH USDT XRP BNB SOL USDC DOGE TRX ADA HYPE LINK XLM SUI BCH AVAX HBAR LTC TON SHIB DOT
    XMR UNI PEPE AAVE NEAR APT ICP ETC POL ATOM FIL ARB ONDO ALGO VET RENDER OP INJ DAI TAO ENA
    WLD SEI BONK TIA JUP FET QNT STX
""".split())

# ---------------------------------------------------------------- exchanges: symbol -> ticker

# Binance spot, `BASEQUOTE` against USDT (no USDT itself, no HYPE, XMR or DAI).
BINANCE: dict[str, str] = _symbols("USDT", """
    BTCUSDT ETHUSDT XRPUSDT BNBUSDT SOLUSDT USDCUSDT DOGEUSDT TRXUSDT ADAUSDT LINKUSDT
    XLMUSDT SUIUSDT BCHUSDT AVAXUSDT HBARUSDT LTCUSDT TONUSDT SHIBUSDT DOTUSDT UNIUSDT
    PEPEUSDT AAVEUSDT NEARUSDT APTUSDT ICPUSDT ETCUSDT POLUSDT ATOMUSDT FILUSDT ARBUSDT
    ONDOUSDT ALGOUSDT VETUSDT RENDERUSDT OPUSDT INJUSDT TAOUSDT ENAUSDT WLDUSDT SEIUSDT
    BONKUSDT TIAUSDT JUPUSDT FETUSDT QNTUSDT STXUSDT
""")

# Coinbase Exchange products, `BASE-QUOTE` in real USD (no BNB, USDC, TRX, HYPE, TON, XMR,
# VET or TAO against USD).
COINBASE: dict[str, str] = _symbols("-USD", """
    BTC-USD ETH-USD USDT-USD XRP-USD SOL-USD DOGE-USD ADA-USD LINK-USD XLM-USD SUI-USD
    BCH-USD AVAX-USD HBAR-USD LTC-USD SHIB-USD DOT-USD UNI-USD PEPE-USD AAVE-USD NEAR-USD
    APT-USD ICP-USD ETC-USD POL-USD ATOM-USD FIL-USD ARB-USD ONDO-USD ALGO-USD RENDER-USD
    OP-USD INJ-USD DAI-USD ENA-USD WLD-USD SEI-USD BONK-USD TIA-USD JUP-USD FET-USD
    QNT-USD STX-USD
""")

# OKX spot instruments, `BASE-QUOTE` against USDT.
OKX: dict[str, str] = _symbols("-USDT", """
    BTC-USDT ETH-USDT XRP-USDT BNB-USDT SOL-USDT USDC-USDT DOGE-USDT TRX-USDT ADA-USDT
    HYPE-USDT LINK-USDT XLM-USDT SUI-USDT BCH-USDT AVAX-USDT HBAR-USDT LTC-USDT TON-USDT
    SHIB-USDT DOT-USDT UNI-USDT PEPE-USDT AAVE-USDT NEAR-USDT APT-USDT ICP-USDT ETC-USDT
    POL-USDT ATOM-USDT FIL-USDT ARB-USDT ONDO-USDT ALGO-USDT VET-USDT RENDER-USDT OP-USDT
    INJ-USDT DAI-USDT TAO-USDT ENA-USDT WLD-USDT SEI-USDT BONK-USDT TIA-USDT JUP-USDT
    FET-USDT QNT-USDT STX-USDT
""")

# KuCoin spot symbols, `BASE-QUOTE` against USDT (the same set as OKX).
KUCOIN: dict[str, str] = _symbols("-USDT", """
    BTC-USDT ETH-USDT XRP-USDT BNB-USDT SOL-USDT USDC-USDT DOGE-USDT TRX-USDT ADA-USDT
    HYPE-USDT LINK-USDT XLM-USDT SUI-USDT BCH-USDT AVAX-USDT HBAR-USDT LTC-USDT TON-USDT
    SHIB-USDT DOT-USDT UNI-USDT PEPE-USDT AAVE-USDT NEAR-USDT APT-USDT ICP-USDT ETC-USDT
    POL-USDT ATOM-USDT FIL-USDT ARB-USDT ONDO-USDT ALGO-USDT VET-USDT RENDER-USDT OP-USDT
    INJ-USDT DAI-USDT TAO-USDT ENA-USDT WLD-USDT SEI-USDT BONK-USDT TIA-USDT JUP-USDT
    FET-USDT QNT-USDT STX-USDT
""")

# Bybit spot symbols, `BASEQUOTE` upper case against USDT (no USDT, XMR, DAI or QNT).
BYBIT: dict[str, str] = _symbols("USDT", """
    BTCUSDT ETHUSDT XRPUSDT BNBUSDT SOLUSDT USDCUSDT DOGEUSDT TRXUSDT ADAUSDT HYPEUSDT
    LINKUSDT XLMUSDT SUIUSDT BCHUSDT AVAXUSDT HBARUSDT LTCUSDT TONUSDT SHIBUSDT DOTUSDT
    UNIUSDT PEPEUSDT AAVEUSDT NEARUSDT APTUSDT ICPUSDT ETCUSDT POLUSDT ATOMUSDT FILUSDT
    ARBUSDT ONDOUSDT ALGOUSDT VETUSDT RENDERUSDT OPUSDT INJUSDT TAOUSDT ENAUSDT WLDUSDT
    SEIUSDT BONKUSDT TIAUSDT JUPUSDT FETUSDT STXUSDT
""")


@dataclass(frozen=True)
class KrakenPair:
    """A Kraken USD pair: the ticker, the canonical key answers come under, the base asset."""
    ticker: str
    key: str
    base: str


# Kraken USD pairs by request altname. Kraken calls BTC `XBT` and DOGE `XDG`; assets older than
# its naming change carry X/Z prefixes, so XBTUSD answers as XXBTZUSD, USDTUSD as USDTZUSD.
KRAKEN: dict[str, KrakenPair] = {
    altname: KrakenPair(ticker, key, base) for ticker, altname, key, base in (
        ("BTC", "XBTUSD", "XXBTZUSD", "XXBT"), ("ETH", "ETHUSD", "XETHZUSD", "XETH"),
        ("USDT", "USDTUSD", "USDTZUSD", "USDT"), ("XRP", "XRPUSD", "XXRPZUSD", "XXRP"),
        ("SOL", "SOLUSD", "SOLUSD", "SOL"), ("USDC", "USDCUSD", "USDCUSD", "USDC"),
        ("DOGE", "XDGUSD", "XDGUSD", "XXDG"), ("TRX", "TRXUSD", "TRXUSD", "TRX"),
        ("ADA", "ADAUSD", "ADAUSD", "ADA"), ("LINK", "LINKUSD", "LINKUSD", "LINK"),
        ("XLM", "XLMUSD", "XXLMZUSD", "XXLM"), ("SUI", "SUIUSD", "SUIUSD", "SUI"),
        ("BCH", "BCHUSD", "BCHUSD", "BCH"), ("AVAX", "AVAXUSD", "AVAXUSD", "AVAX"),
        ("HBAR", "HBARUSD", "HBARUSD", "HBAR"), ("LTC", "LTCUSD", "XLTCZUSD", "XLTC"),
        ("TON", "TONUSD", "TONUSD", "TON"), ("SHIB", "SHIBUSD", "SHIBUSD", "SHIB"),
        ("DOT", "DOTUSD", "DOTUSD", "DOT"), ("XMR", "XMRUSD", "XXMRZUSD", "XXMR"),
        ("UNI", "UNIUSD", "UNIUSD", "UNI"), ("PEPE", "PEPEUSD", "PEPEUSD", "PEPE"),
        ("AAVE", "AAVEUSD", "AAVEUSD", "AAVE"), ("NEAR", "NEARUSD", "NEARUSD", "NEAR"),
        ("APT", "APTUSD", "APTUSD", "APT"), ("ICP", "ICPUSD", "ICPUSD", "ICP"),
        ("ETC", "ETCUSD", "XETCZUSD", "XETC"), ("POL", "POLUSD", "POLUSD", "POL"),
        ("ATOM", "ATOMUSD", "ATOMUSD", "ATOM"), ("FIL", "FILUSD", "FILUSD", "FIL"),
        ("ARB", "ARBUSD", "ARBUSD", "ARB"), ("ONDO", "ONDOUSD", "ONDOUSD", "ONDO"),
        ("ALGO", "ALGOUSD", "ALGOUSD", "ALGO"), ("RENDER", "RENDERUSD", "RENDERUSD", "RENDER"),
        ("OP", "OPUSD", "OPUSD", "OP"), ("INJ", "INJUSD", "INJUSD", "INJ"),
        ("DAI", "DAIUSD", "DAIUSD", "DAI"), ("TAO", "TAOUSD", "TAOUSD", "TAO"),
        ("ENA", "ENAUSD", "ENAUSD", "ENA"), ("WLD", "WLDUSD", "WLDUSD", "WLD"),
        ("SEI", "SEIUSD", "SEIUSD", "SEI"), ("BONK", "BONKUSD", "BONKUSD", "BONK"),
        ("TIA", "TIAUSD", "TIAUSD", "TIA"), ("JUP", "JUPUSD", "JUPUSD", "JUP"),
        ("FET", "FETUSD", "FETUSD", "FET"), ("QNT", "QNTUSD", "QNTUSD", "QNT"),
        ("STX", "STXUSD", "STXUSD", "STX"),
    )}

# ---------------------------------------------------------------- news: tag -> ticker

# Cointelegraph tag feeds (`/rss/tag/<tag>`): the coin's name in lower case, words hyphenated.
COINTELEGRAPH: dict[str, str] = {
    "bitcoin": "BTC", "ethereum": "ETH", "tether": "USDT", "xrp": "XRP", "bnb": "BNB",
    "solana": "SOL", "usdc": "USDC", "dogecoin": "DOGE", "tron": "TRX", "cardano": "ADA",
    "hyperliquid": "HYPE", "chainlink": "LINK", "stellar": "XLM", "sui": "SUI",
    "bitcoin-cash": "BCH", "avalanche": "AVAX", "hedera": "HBAR", "litecoin": "LTC",
    "toncoin": "TON", "shiba-inu": "SHIB", "polkadot": "DOT", "monero": "XMR",
    "uniswap": "UNI", "pepe": "PEPE", "aave": "AAVE", "near-protocol": "NEAR", "aptos": "APT",
    "internet-computer": "ICP", "ethereum-classic": "ETC", "pol": "POL", "cosmos": "ATOM",
    "filecoin": "FIL", "arbitrum": "ARB", "ondo": "ONDO", "algorand": "ALGO",
    "vechain": "VET", "render": "RENDER", "optimism": "OP", "injective": "INJ", "dai": "DAI",
    "bittensor": "TAO", "ethena": "ENA", "worldcoin": "WLD", "sei": "SEI", "bonk": "BONK",
    "celestia": "TIA", "jupiter": "JUP", "artificial-superintelligence-alliance": "FET",
    "quant": "QNT", "stacks": "STX",
}

