"""Basic mode, part one: understanding a catalog question as a structured ``Query``.

No model is involved: the text is folded (lower case, no accents), number words become digits,
price bounds are read with patterns, and the remaining words are matched against a phrase index
built from the catalog's own vocabulary (families, categories, brands, colours, availability
states, read at run time) plus a small, fixed lexicon of shop words in Spanish and English.
Words the index does not know are checked against the catalog's full-text index; a word that is
in neither gets a one-letter typo correction. ``bot.basic`` turns the result into SQL.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bot.money import MAX_SOLES

DEFAULT_LIMIT = 5
MAX_LIMIT = 20

Term = tuple[str, str]

# Words whose final "s" is not a plural (or whose singular would collide with another word).
NO_SINGULAR = frozenset({"unos", "unas", "menos", "cuantos", "cuantas", "tres", "seis", "this",
                         "its", "yes", "plus"})

_SYNONYM_TYPES = (
    "laptop portatil portatiles notebook computadora computador ordenador pc computer",
    "celular telefono movil smartphone phone phones cellphone mobile telefono_movil cell_phone",
    "audifono auricular headphone headset earphone earbud audifonos_inalambricos",
    "televisor television tele tv tvs smart_tv",
    "tablet tableta",
    "monitor",
    "parlante altavoz bocina speaker bafle",
    "consola videoconsola console",
    "licuadora blender",
    "sarten paila skillet frying_pan",
    "refrigeradora refrigerador refri nevera heladera frigorifico fridge refrigerator",
    "microondas horno_microondas microwave",
    "cafetera coffee_maker coffee_machine espresso_machine",
    "aspiradora aspirador vacuum vacuum_cleaner",
    "lavadora lavarropas washing_machine washer",
    "freidora freidora_de_aire air_fryer airfryer fryer",
    "silla chair office_chair",
    "impresora printer multifuncional",
    "escritorio desk",
    "calculadora calculator",
    "proyector projector",
    "teclado keyboard",
    "zapatilla tenis sneaker sneakers zapato_deportivo calzado_deportivo running_shoe shoe shoes",
    "balon pelota ball",
    "bicicleta bici bike bicycle",
    "pesa mancuerna dumbbell weights kettlebell",
    "trotadora caminadora cinta_de_correr treadmill",
    "raqueta racket racquet",
    "polo camiseta polera playera remera t_shirt shirt jersey",
    "reloj watch watches smartwatch",
    "billetera wallet monedero",
    "cartera bolso handbag purse",
    "gorra gorro cap hat jockey",
    "lente_de_sol lentes gafas anteojos sunglasses gafas_de_sol glasses",
    "mochila backpack morral",
)
_SYNONYM_FAMILIES = (
    "electronica electronico electronics electronic tecnologia tech technology",
    "hogar casa home household",
    "oficina office",
    "deporte deportivo deportiva sports sport fitness gym gimnasio",
    "accesorio accessories accessory",
)
_SYNONYM_COLORS = (
    "negro black", "blanco white", "rojo red", "azul blue", "verde green", "gris gray grey",
    "plateado plata silver", "dorado oro gold", "rosado rosa pink", "amarillo yellow",
    "morado violeta lila purple", "naranja anaranjado orange", "marron brown", "beige",
)
_SYNONYM_AVAILABILITY = {
    "disponible": "disponible available en_stock in_stock con_stock stock_disponible "
                  "en_existencia hay_stock tienen_stock tiene_stock todavia_hay aun_hay "
                  "still_available any_left",
    "agotado": "agotado agotada sin_stock out_of_stock sold_out no_disponible not_available "
               "unavailable no_hay_stock fuera_de_stock",
    "por llegar": "por_llegar proximamente coming_soon en_camino on_the_way preventa pre_order "
                  "on_order llegando por_venir en_transito",
}
_STOCK_QUESTION = ("hay_stock tienen_stock tiene_stock en_stock in_stock stock_de todavia_hay "
                   "aun_hay still_available any_left quedan queda")

# kind -> value -> phrases ("_" joins the words of one phrase).
_FIXED: dict[str, dict[str, str]] = {
    "order": {
        "price_asc": "barato barata mas_barato economico economica cheap cheaper cheapest "
                     "least_expensive less_expensive menos_caro menos_cara menos_costoso "
                     "menor_precio precio_mas_bajo precio_bajo mas_bajo_precio lowest_price "
                     "low_price lower_price affordable most_affordable inexpensive bajo_costo "
                     "low_cost accesible asequible precio_minimo minimum_price por_precio "
                     "ordenado_por_precio sorted_by_price by_price de_menor_a_mayor "
                     "low_to_high lowest_first lower_priced low_priced",
        "price_desc": "caro cara mas_caro costoso costosa expensive most_expensive "
                      "more_expensive priciest pricey mayor_precio precio_mas_alto precio_alto "
                      "highest_price gama_alta high_end premium precio_maximo maximum_price "
                      "de_mayor_a_menor high_to_low highest_first higher_priced high_priced",
        "stock_desc": "mas_stock mayor_stock most_stock more_stock mas_unidades most_units",
    },
    "intent": {
        "count": "cuantos cuantas how_many numero_de cantidad_de number_of count total_de",
        "units": "cuanto_stock cuantas_unidades cuantos_unidades how_much_stock how_many_units "
                 "unidades_en_stock total_de_unidades stock_total total_stock units_in_stock",
        "average": "promedio precio_promedio precio_medio average average_price en_promedio avg",
    },
    "group": {
        "category": "categoria category categories tipo_de_producto tipos_de_producto "
                    "tipo_de_productos clase_de_producto que_venden what_do_you_sell "
                    "product_types kinds_of_products types_of_products rubro",
        "brand": "marca brand fabricante manufacturer",
        "family": "familia family families departamento seccion section linea",
        "color": "color colour",
    },
    "generic": {"": "producto articulo item product cosa todo catalogo catalog everything "
                    "anything something algo stuff thing mercaderia lo_que_tienen what_you_have"},
    "filler": {"": "ejemplo example opcion option resultado result modelo model alternativa "
                   "alternative sugerencia suggestion recomendacion recommendation"},
    "more": {"": "mas more otro otra other others another siguiente next resto rest adicional "
                 "additional demas los_demas las_demas"},
    "followup": {"": "esos esas estos estas ellos ellas those these them they de_esos of_those "
                     "entre_ellos among_them among_those solo solamente only just pero but "
                     "tambien also"},
    "ordinal": {"1": "primero primera primer first 1ro 1st", "2": "segundo segunda second 2do 2nd",
                "3": "tercero tercera tercer third 3ro 3rd", "4": "cuarto cuarta fourth 4to 4th",
                "5": "quinto quinta fifth 5to 5th", "-1": "ultimo ultima last"},
    "exist": {"": "tienen tiene tienes venden vende vendes hay have has sell sells carry got "
                  "existe existen manejan manejas disponen do_you_have is_there are_there"},
    "cue": {"": "precio price cuesta cuestan cuanto vale valen cost costs how_much busco "
                "buscando quiero necesito recomienda recomiendame recomiendas sugiere sugiereme "
                "looking want need recommend suggest comprar buy muestrame mostrar muestra "
                "ensename dame give show list lista listame find encuentra ver see quisiera"},
    "show": {"": "cuales cual which cuales_son muestramelos muestralos show_them list_them "
                 "verlos which_ones what_are_they"},
    "article": {"sing": "el la lo", "plur": "los las unos unas"},
    "unsupported": {"": "mas_vendido mas_vendida best_seller best_selling bestseller popular "
                        "mas_popular mejor_valorado mejor_calificado top_rated rating resena "
                        "review calificacion opinion oferta descuento promocion promo on_sale "
                        "liquidacion envio delivery shipping despacho horario tienda_fisica "
                        "direccion ubicacion metodo_de_pago medios_de_pago pago tarjeta yape plin "
                        "cuota devolucion reembolso factura boleta novedades newest latest "
                        "mas_reciente recien_llegado mas_nuevo mas_nueva ultimo_modelo "
                        "newer recent"},
    "prep": {"": "para for con with de of compatible compatible_con"},
}



def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS = _wordset("""
a al alguna algunas alguno algunos ante antes aqui asi aun bien buen buena buenas bueno buenos
cada como contra cuando del donde e ella en era es esa ese eso esta estan este esto estoy favor
fue gracias ha hace hacer han he hola le les me mi mis mucho muy nada ni no nos nosotros o os
poco por porfa porfavor puede pueden puedes puedo que quien se sea segun ser si sin su sus tal
te tengo ti tu tus un una usted ustedes va vamos y ya yo saber podrias podria mostrarme
ensenarme decirme dime dimelo interesa interesado gustaria necesitaria tendran tendrias
disculpa oye mira please pls ahora hoy actualmente tienda store shop ofrecen ofrece venta vender
pulgada inch tipo calidad top ones ordenado ordenar ordena sorted sort
ordered orden each every cada per son were estan sean mejor best good nice bonito bonita
lindo linda soles sol pen s nuevo nueva new
distinto distinta diferente different unique distinct priced pues pe ps porfis plis porfi
amigo amiga hermano causa bro oiga senor senora senorita joven jefe mano entonces ahi aca alli
nomas solito chevere bacan genial
an the to in on at by without is are was be do does did you your we i my it this that what who
how can could would will any some there here get tell like about and or so all than then up
down us our en_total total hay_algun hay_alguna alguien dinero money quiero_ver favorito
""")

# Spanish and English number words; "un/una/uno/one/a" are handled as counts of one elsewhere.
_UNITS = {
    "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9,
    "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
    "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20,
    "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80,
    "noventa": 90, "cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300,
    "cuatrocientos": 400, "quinientos": 500, "seiscientos": 600, "setecientos": 700,
    "ochocientos": 800, "novecientos": 900, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "docena": 12, "dozen": 12,
}
_TENS = "treinta|cuarenta|cincuenta|sesenta|setenta|ochenta|noventa"
_NUMBER_WORDS = sorted([*_UNITS, "mil", "thousand", "hundred"], key=len, reverse=True)
_NUMBER_RUN = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)})(?:\s+(?:{'|'.join(_NUMBER_WORDS)}))*\b")
_ONE_WORDS = frozenset({"un", "una", "uno", "one", "a", "an"})
_COUNT_BEFORE = frozenset({"top", "dame", "give", "show", "muestrame", "ensename", "lista", "list",
                           "listame", "primeros", "primeras", "first", "otros", "otras", "other",
                           "another", "next", "siguientes", "unos", "unas", "some", "ver", "see",
                           "me", "los", "las", "the", "quiero", "want", "necesito", "need",
                           "solo", "only", "just"})

_AMOUNT = (r"(?:s/\.?|\$|pen|usd)?\s*(?P<{0}>\d{{1,3}}(?:[.,]\d{{3}})+(?:[.,]\d{{1,2}})?"
           r"|\d+(?:[.,]\d{{1,2}})?)\s*(?P<{0}x>k\b|mil\b|miles\b)?\s*(?:soles|sol|pen|lucas?)?")


def _amount(name: str) -> str:
    return _AMOUNT.format(name)


_PRICE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern)) for kind, pattern in (
        ("between", rf"\b(?:entre|between)\s+(?:los\s+|las\s+)?{_amount('a')}\s+(?:y|a|and|to)\s+"
                    rf"{_amount('b')}"),
        ("between", rf"\b(?:de|desde|from)\s+{_amount('a')}\s+(?:a|hasta|to)\s+{_amount('b')}"),
        ("between", rf"(?:s/\.?)\s*{_amount('a')}\s*(?:-|a|to)\s*{_amount('b')}"),
        ("around", rf"\b(?:alrededor de|cerca de|aproximadamente|aprox|unos|around|about|"
                   rf"approximately|roughly)\s+{_amount('a')}(?=\s*$|\s*[?!.,]|(?<=sol)|"
                   rf"(?<=soles))"),
        ("stock_gt", r"\b(?:mas de|more than|over)\s+(?P<a>\d+)\s+(?:unidades|units)\b"),
        ("le", rf"\b(?:hasta|maximo|como maximo|a lo mucho|no mas de|up to|at most|max|maximum|"
               rf"no more than|tope de|presupuesto de|budget of|budget)\s+(?:de\s+)?"
               rf"{_amount('a')}"),
        ("lt", rf"\b(?:menos de|menos que|menor(?:es)? (?:a|que|de)|por debajo de|debajo de|bajo|"
               rf"inferior(?:es)? a|less than|under|below|cheaper than|lower than)\s+"
               rf"{_amount('a')}"),
        ("ge", rf"\b(?:desde|minimo|como minimo|a partir de|al menos|at least|from|starting at|"
               rf"min|minimum|no menos de)\s+(?:de\s+)?{_amount('a')}"),
        ("gt", rf"\b(?:mas de|mas que|mayor(?:es)? (?:a|que|de)|por encima de|encima de|sobre|"
               rf"superior(?:es)? a|more than|over|above|greater than|mas caros? que|"
               rf"pricier than|more expensive than)\s+{_amount('a')}"),
        ("le", r"(?:s/\.?)\s*" + _amount("a")),
        ("le", r"\b(?P<a>\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)\s*"
               r"(?P<ax>k\b|mil\b)?\s*(?:soles|sol|lucas?)\b"),
    )
)

_HOSTILE = tuple(re.compile(p) for p in (
    r"\b(?:drop|delete|insert|update|alter|truncate|attach|detach|pragma|vacuum|reindex|replace)"
    r"\b.*\b(?:table|tabla|from|into|set|database|where|index|view|trigger|products?|productos?|"
    r"precios?|prices?|stock|catalogo|catalog|all|todo|todos)\b",
    r"\bcreate\s+(?:temp\w*\s+)?(?:table|view|index|trigger)\b",
    r"sqlite_\w+|load_extension|\bunion\s+(?:all\s+)?select\b|\bselect\b.+\bfrom\b|;\s*--|/\*|"
    r"\bor\s+1\s*=\s*1\b|\bdrop\s+table\b",
    r"\b(?:borr|elimin|suprim|vaci|actualiz|actualic|modific|modifiq|insert|agreg|anad|edit[ae]|"
    r"renombr|cambi|sub[ea]|baj[ae]|rebaj|aument|reduc|duplic|delet|remov|erase|quit[ae]|reemplaz|"
    r"sustitu|replac|"
    r"editar|wipe|chang|modify|add\b|rename|crea\b|crear\b|pon\b|ponle|"
    r"ponles|poner|establec|fij[ae]|set\b|mark\b)\w*\b.*\b(?:productos?|precios?|stock|inventario|"
    r"tablas?|catalogo|base de datos|registros?|filas?|products?|prices?|inventory|tables?|"
    r"catalog|database|records?|rows?|items?|todos?|all|everything|historial|memoria|"
    r"conversacion\w*|mensajes|history|memory|messages|conversations?)\b",
    r"\bhaz que\b.*\b(?:cuesten|cueste|valgan|valga|esten|sean|tengan)\b|"
    r"\bmake (?:all|every|the)\b.*\b(?:cost|free|zero|0)\b|"
    r"\bregistr\w*\s+(?:una\s+|la\s+|un\s+)?(?:venta|compra|pedido|orden)\b",
    r"\brm\s+-rf\b|\bexec(?:ute)?\b|os\.system|__import__|\beval\s*\(|\bshell\b|"
    r"\b(?:acceso|access)\s+(?:de\s+)?(?:admin\w*|root)\b|\b(?:tu|your)\s+configura\w*|"
    r"\bconfig(?:uracion)? interna|\binternal config\w*",
    r"\baplica\w*\s+(?:un\s+|el\s+)?descuento",
    r"\b(?:lower|raise|increase|decrease|reduce|edit)\s+(?:the\s+|all\s+|every\s+|their\s+)?"
    r"(?:prices?|stock|products?|items?)\b",
    r"\b(?:ignor|olvid|forget|disregard|override|omit)\w*\s+(?:\w+\s+){0,3}(?:instruc|regla|"
    r"rules?|prompt|indicac|restric|guidelines?|directiv)",
    r"system prompt|prompt del sistema|tu prompt|your prompt|you are now|ahora eres|act as|"
    r"actua como|developer mode|modo desarrollador|jailbreak|\bdan\b|sin restricciones|"
    r"no restrictions|modo admin|admin mode|\bsudo\b|\broot\b",
    r"\b(?:schema|esquema|base de datos|database|\bdb\b|\.db\b|sqlite|\bsql\b|sql injection)",
    r"\b(?:tablas?|tables?)\b.*\b(?:internas?|internal|otras|other|sistema|system|master|"
    r"usuarios|users|mensajes|messages|conversacion\w*|state|memoria|memory|ocultas?|hidden|"
    r"todas|all)\b|\b(?:que|what|which|lista\w*|list|muestra\w*|show)\b.*\b(?:tablas|tables)\b",
    r"contrasena|password|passwd|credencial|credential|api.?key|\btokens?\b|secret|clave secreta|"
    r"\.env\b|/etc/|\barchivos?\b|\bfiles?\b|\bruta\b|\bpath\b|variables? de entorno|"
    r"environment variables?",
    r"\b(?:otros usuarios|other users|otros clientes|other customers|historial de|chat history|"
    r"conversaciones de|mensajes de otros|datos de (?:los )?(?:usuarios|clientes))\b",
))
# Write verbs that, next to anything from the catalog, ask for a change ("borra las laptops").
_WRITE = re.compile(r"\b(?:borr|elimin|suprim|actualiz|modific|insert|agreg|anad|delet|remov|"
                    r"updat|modify|wipe|erase)\w*")
_CREATIVE = re.compile(
    r"\b(?:poema|poem|poesia|poetry|chiste|joke|broma|cuento|story|ensayo|essay|cancion|song|"
    r"rap|haiku|adivinanza|riddle|carta de amor|love letter|traduce|traducir|translate|horoscopo|"
    r"horoscope)\b")
_TOPIC = re.compile(
    r"\b(?:clima|weather|temperatura|lluvia|llover|pronostico|forecast|que hora|what time|"
    r"que dia es|what day|fecha de hoy|quien gano|who won|partido|match|campeonato|mundial|"
    r"liga|marcador|goles?|presidente|president|politic\w*|elecciones|election|gobierno|"
    r"government|congreso|congress|ministro|alcalde|votar|vote|noticias?|news|capital|pais|"
    r"country|poblacion|population|dolar|tipo de cambio|exchange rate|bitcoin|crypto\w*|"
    r"criptomoneda|bolsa de valores|stock market|receta|recipe|pelicula|movie|serie|netflix|"
    r"musica|music|libro|book|novela|sentido de la vida|meaning of life|dios|god|religion|amor|"
    r"love|novia|novio|girlfriend|boyfriend|medico|doctor|enfermedad|medicina|medicine|dieta|"
    r"diet|vuelo|flight|hotel|viaje|travel|vacaciones|vacation|tarea|homework|examen|exam|"
    r"matematicas?|math|quien es|who is|quien fue|who was|donde queda|where is|escribe\w*|"
    r"write|redacta|compose|inventa|imagina|imagine|historia|history|filosofia|philosophy|"
    r"equipo de futbol|futbolista|jugador|seleccion peruana|copa america|champions|"
    r"cuantos anos tienes|how old are you|eres humano|are you human|are you real)\b"
    r"|\b(?:tu|tus|your)\s+(?:\w+\s+)?(?:favorit\w*|preferid\w*|nombre|name|edad|age)\b"
    r"|^\W*(?:que|what)\s+(?:es|son|is|are|significa|means?)\s+(?:un|una|el|la|los|las|a|an|"
    r"the)\s"
    r"|\bque tiempo (?:hace|hara|va a hacer)|\bva a llover|\bwill it rain|\bhow hot|\bhow cold"
    r"|\d+\s*[-+*/x]\s*\d+\s*(?:=|\?|$)"
    r"|\b(?:cuanto es|what is|what's|calcula|calculate)\s+\d+(?:[.,]\d+)?\s*(?:por|mas|menos|"
    r"entre|dividido|times|plus|minus|divided|multiplied|x|\*|\+|-|/)\s*(?:by\s+|para\s+)?\d+")
_GREETING = _wordset("""hola holi buenas buenos dias tardes noches hi hello hey good morning
afternoon evening saludos que tal como estas how are you gracias thanks thank muchas chau adios
bye ok okay vale genial perfecto listo kratos bot asistente assistant""")
_ENGLISH_GREETING = frozenset({"hi", "hello", "hey", "thanks", "thank", "bye", "morning"})
_SPANISH_GREETING = frozenset({"hola", "holi", "buenas", "buenos", "gracias", "chau", "adios"})
_HELP = re.compile(r"\b(?:ayuda|help|que puedes hacer|what can you do|como funciona|"
                   r"how does (?:this|it) work|quien eres|who are you|que eres|what are you|"
                   r"comandos|commands|opciones de uso)\b")
_TOKEN = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without accents (ñ becomes n, like FTS5's remove_diacritics)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def singular(word: str) -> str:
    """A rough Spanish/English singular: enough to match 'celulares' with 'celular'."""
    if len(word) <= 3 or word in NO_SINGULAR or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ces"):
        return word[:-3] + "z"
    if word.endswith("es") and word[-3] in "rlndjy" and word[-4] in "aeiou":
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def within_one_edit(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours turns ``a`` into ``b``."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def words(text: str) -> list[str]:
    """The folded words of ``text``."""
    return _TOKEN.findall(fold(text))


def phrase_key(phrase: str) -> tuple[str, ...]:
    """How a phrase is looked up: its words, each made singular."""
    return tuple(singular(w) for w in _TOKEN.findall(fold(phrase.replace("_", " "))))


@dataclass(frozen=True)
class Vocabulary:
    """What basic mode can recognise in this catalog: its values and the words that name them."""

    families: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    availability: tuple[str, ...] = ()
    index: dict[tuple[str, ...], tuple[Term, ...]] = field(default_factory=dict, repr=False)
    lexicon: frozenset[str] = field(default_factory=frozenset, repr=False)
    surfaces: dict[str, str] = field(default_factory=dict, repr=False)
    max_phrase: int = 1
    #: Words that name this store's products: an off-topic pattern ("libro") does not apply.
    own_words: frozenset[str] = field(default_factory=frozenset, repr=False)

    @classmethod
    def build(cls, *, families: Sequence[str], categories: Sequence[str], brands: Sequence[str],
              colors: Sequence[str], availability: Sequence[str],
              group_words: Mapping[str, str] | None = None,
              product_words: Sequence[str] = (), brand_tails: bool = False) -> Vocabulary:
        """Index the catalog's values, their singular forms and the fixed shop lexicon.

        ``group_words`` maps a group (category, brand, family, color) to the store's own word
        for its column ("autor", "laboratorio", "género"), so "¿qué autores tienen?" lists them.
        ``product_words`` are the store's nouns for its products ("libro", "medicamento"): they
        mean "any product". With ``brand_tails``, a brand of several words is also known by its
        last ones ("García Márquez", "Márquez" for "Gabriel García Márquez").
        """
        index: dict[tuple[str, ...], list[Term]] = {}

        def add(key: tuple[str, ...], term: Term) -> None:
            if key and term not in index.setdefault(key, []):
                index[key].append(term)

        for group, word in (group_words or {}).items():
            if group in ("category", "brand", "family", "color"):
                add(phrase_key(word), ("group", group))
        for word in product_words:
            add(phrase_key(word), ("generic", ""))

        for kind, values in _FIXED.items():
            for value, phrases in values.items():
                for phrase in phrases.split():
                    add(phrase_key(phrase), (kind, value))
        for phrase in _STOCK_QUESTION.split():
            add(phrase_key(phrase), ("stockq", ""))
        for value in availability:
            add(phrase_key(value), ("availability", value))
            for phrase in _SYNONYM_AVAILABILITY.get(fold(value), "").split():
                add(phrase_key(phrase), ("availability", value))
        _index_values(add, "family", families, _SYNONYM_FAMILIES)
        _index_values(add, "category", categories, _SYNONYM_TYPES)
        for brand in brands:
            key = phrase_key(brand)
            add(key, ("brand", brand))
            if len(key) > 1:
                add(("".join(words(brand)),), ("brand", brand))
            if brand_tails:
                for start in range(1, len(key)):
                    if len(key[start]) >= 4:
                        add(key[start:], ("brand", brand))
        for color in colors:
            key = phrase_key(color)
            add(key, ("color", color))
            if len(key) == 1 and key[0].endswith("o"):
                add((key[0][:-1] + "a",), ("color", color))
            for group in _SYNONYM_COLORS:
                names = group.split()
                if key[0] in names:
                    for name in names:
                        add((name,), ("color", color))
                        if name.endswith("o"):
                            add((name[:-1] + "a",), ("color", color))
        surfaces: dict[str, str] = {}
        lexicon = {w for key in index for w in key} | _STOPWORDS | set(_UNITS)
        for word in lexicon:
            # Only real plurals: a made-up "barataes" would out-rank the "baratas" a typo meant.
            for surface in (word, word + "s", word + "es"):
                if surface == word or singular(surface) == word:
                    surfaces.setdefault(surface, word)
        return cls(families=tuple(families), categories=tuple(categories), brands=tuple(brands),
                   colors=tuple(colors), availability=tuple(availability),
                   index={k: tuple(v) for k, v in index.items()}, lexicon=frozenset(lexicon),
                   surfaces=surfaces, max_phrase=max((len(k) for k in index), default=1),
                   own_words=frozenset(w for key, terms in index.items() for w in key
                                       if any(kind == "generic" for kind, _ in terms)))

    def correct(self, word: str) -> str | None:
        """The known word one typo away from ``word``, when there is exactly one best.

        The corrected word keeps its plural when the typo had one ("baratass" -> "baratas").
        """
        if not word.isalpha() or len(word) < 4:
            return None
        found: dict[str, tuple[tuple[int, int], str]] = {}
        for surface, key in self.surfaces.items():
            if len(surface) < 4 or abs(len(surface) - len(word)) > 1:
                continue
            # Four-letter words only accept a missing letter or swapped neighbours: "cama" is
            # not a typo of "casa".
            if len(word) == 4 and len(surface) == 4 and sorted(surface) != sorted(word):
                continue
            if within_one_edit(word, surface):
                rank = (int(len(surface) != len(word)), int(surface[0] != word[0]))
                shown = surface if singular(surface) == key else key
                if key not in found or rank < found[key][0]:
                    found[key] = (rank, shown)
        if not found:
            return None
        ranked = sorted(found.items(), key=lambda item: item[1][0])
        best = ranked[0][1][0]
        if len(ranked) > 1 and ranked[1][1][0] == best:
            meanings = {self.index.get((k,), (("stop", k),)) for k, (r, _) in ranked if r == best}
            if len(meanings) > 1:
                return None
        return ranked[0][1][1]


def _index_values(add: Any, kind: str, values: Sequence[str], groups: Sequence[str]) -> None:
    """Index catalog values of one kind, their head word, and any synonym group they belong to."""
    heads: dict[str, list[str]] = {}
    for value in values:
        key = phrase_key(value)
        add(key, (kind, value))
        if len(key) > 1:
            heads.setdefault(key[0], []).append(value)
        for group in groups:
            members = [phrase_key(p) for p in group.split()]
            if key in members or (len(key) > 1 and (key[0],) in members):
                for member in members:
                    add(member, (kind, value))
    for head, owners in heads.items():
        for value in owners:
            add((head,), (kind, value))


@dataclass
class Query:
    """A question understood: what to look for, how to order it, how much to show.

    It is stored as the answer's memory (``Reply.meta["query"]``), so follow-ups can reuse it.
    """

    intent: str = "list"
    categories: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)
    availability: list[str] = field(default_factory=list)
    min_price: float | None = None
    min_inclusive: bool = True
    max_price: float | None = None
    max_inclusive: bool = True
    min_stock: int | None = None
    keywords: list[str] = field(default_factory=list)
    soft_keywords: list[str] = field(default_factory=list)
    names_only: bool = False
    order: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    group: str | None = None
    pick: int | None = None
    stock_check: bool = False
    exists: bool = False
    ignored: list[str] = field(default_factory=list)
    lang: str = "es"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Query | None:
        """Rebuild a remembered query; anything malformed gives None (no follow-up)."""
        if not isinstance(data, dict):
            return None
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return None


@dataclass
class Draft:
    """First reading of a message: a verdict that needs no catalog, or the words to look up."""

    lang: str
    verdict: str | None = None
    tokens: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    bounds: dict[str, float] = field(default_factory=dict)
    leading_followup: bool = False


def read(text: str, vocab: Vocabulary, lang: str) -> Draft:
    """Decide what needs no catalog (hostile, off-topic, greeting, help) and list unknown words."""
    folded = fold(text)
    flat = " ".join(folded.split())
    if any(p.search(flat) for p in _HOSTILE):
        return Draft(lang=lang, verdict="hostile")
    if _CREATIVE.search(flat):
        return Draft(lang=lang, verdict="offtopic")
    rest, bounds = _price_bounds(_numbers_to_digits(flat))
    tokens = _TOKEN.findall(rest)
    draft = Draft(lang=lang, tokens=tokens, bounds=bounds,
                  leading_followup=bool(tokens) and tokens[0] in ("y", "and", "e"))
    if (not bounds and any(t in _GREETING for t in tokens)
            and all(t in _GREETING or t in _STOPWORDS for t in tokens)):
        draft.verdict = "help" if _HELP.search(flat) else "greeting"
        if set(tokens) & _ENGLISH_GREETING and not set(tokens) & _SPANISH_GREETING:
            draft.lang = "en"
        return draft
    if _hostile_words(tokens, _match(vocab, tokens)):
        draft.verdict = "hostile"
        return draft
    if _HELP.search(flat) and not _terms(vocab, tokens, {"category", "family", "brand"}):
        draft.verdict = "help"
        return draft
    if _off_topic(flat, vocab) and not _terms(vocab, tokens, {"category", "family", "brand"}):
        draft.verdict = "offtopic"
        return draft
    draft.unknown = list(dict.fromkeys(
        item.surface[0] for item in _match(vocab, tokens)
        if item.kinds() == {"word"} and item.surface[0] not in _GREETING))
    return draft


def _off_topic(flat: str, vocab: Vocabulary) -> bool:
    """An off-topic subject, unless it is what this store sells ("libro" in a bookstore)."""
    return any(singular(match.group(0)) not in vocab.own_words for match in _TOPIC.finditer(flat))


def color_words() -> frozenset[str]:
    """Colour names basic mode knows, folded, in both genders ("rojo", "roja", "red")."""
    names = {name for group in _SYNONYM_COLORS for name in group.split()}
    return frozenset(names | {name[:-1] + "a" for name in names if name.endswith("o")})


def _terms(vocab: Vocabulary, tokens: Sequence[str], kinds: set[str]) -> list[Term]:
    return [term for item in _match(vocab, tokens) for term in item.terms if term[0] in kinds]


def _hostile_words(tokens: Sequence[str], items: Sequence[_Item]) -> bool:
    """A write request in plain words, e.g. "elimina las laptops Lenovo"."""
    joined = " ".join(tokens)
    return any(p.search(joined) for p in _HOSTILE) or bool(_WRITE.search(joined) and any(
        item.kinds() & {"category", "family", "brand", "generic"} for item in items))


def _numbers_to_digits(text: str) -> str:
    # "2 mil", "1.5 mil", "3k": thousands written with a digit.
    text = re.sub(r"\b(\d+(?:[.,]\d{1,2})?)\s*(?:mil|k)\b",
                  lambda m: str(round(float(m.group(1).replace(",", ".")) * 1000)), text)
    text = re.sub(r"\b(?:un par de|un par|a couple of|a couple|par de)\b", "2 ", text)
    text = re.sub(r"\bmedia docena\b", "6", text)
    text = re.sub(r"\b(?:una|a) (docena|dozen)\b", r"\1", text)
    text = re.sub(rf"\b({_TENS})\s+y\s+(?=(?:uno|una|dos|tres|cuatro|cinco|seis|siete|ocho|"
                  r"nueve)\b)", r"\1 ", text)
    text = re.sub(r"\bhundred\s+and\s+(?=[a-z]+\b)", "hundred ", text)
    text = re.sub(rf"\b({_TENS})\s+y\s+un[oa]?\b", r"\1 uno", text)

    def value(match: re.Match[str]) -> str:
        total = current = 0
        for word in match.group(0).split():
            if word == "hundred":
                current = max(current, 1) * 100
            elif word in ("mil", "thousand"):
                total += max(current, 1) * 1000
                current = 0
            else:
                current += _UNITS[word]
        return str(total + current)

    text = re.sub(rf"\b({_TENS}) uno\b", lambda m: str(_UNITS[m.group(1)] + 1), text)
    return _NUMBER_RUN.sub(value, text)


def _to_number(raw: str, multiplier: str | None) -> float:
    parts = re.split(r"[.,]", raw)
    if len(parts) > 1 and len(parts[-1]) in (1, 2):
        number = float("".join(parts[:-1]) + "." + parts[-1])
    else:
        number = float("".join(parts))
    # "menos de 99999999999999999999999999 soles": any amount past MAX_SOLES (or too long for
    # a float) bounds the search exactly as MAX_SOLES does, since no price comes near it.
    return min(number * 1000 if multiplier else number, float(MAX_SOLES))


def _price_bounds(text: str) -> tuple[str, dict[str, float]]:
    """Read price (and stock) bounds; return the text without them."""
    bounds: dict[str, float] = {}
    for kind, pattern in _PRICE_PATTERNS:
        while match := pattern.search(text):
            a = _to_number(match.group("a"), match.groupdict().get("ax"))
            if kind == "between":
                b = _to_number(match.group("b"), match.group("bx"))
                bounds["ge"], bounds["le"] = min(a, b), max(a, b)
            elif kind == "around":
                bounds["ge"], bounds["le"] = round(a * 0.8, 2), round(a * 1.2, 2)
            elif kind == "stock_gt":
                bounds["stock_gt"] = a
            else:
                bounds[kind] = a
            text = text[:match.start()] + " " + text[match.end():]
    return text, bounds


@dataclass
class _Item:
    """One matched phrase (or one leftover word) of the message, in order."""

    terms: tuple[Term, ...]
    surface: tuple[str, ...]
    start: int

    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.terms}

    def value(self, kind: str) -> str | None:
        return next((v for k, v in self.terms if k == kind), None)

    @property
    def plural(self) -> bool:
        last = self.surface[-1]
        return singular(last) != last or last in ("unos", "unas", "ones")


def _match(vocab: Vocabulary, tokens: Sequence[str]) -> list[_Item]:
    keys = [singular(t) for t in tokens]
    items: list[_Item] = []
    i = 0
    longest = vocab.max_phrase
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            terms = vocab.index.get(tuple(keys[i:i + size]))
            if terms:
                items.append(_Item(terms, tuple(tokens[i:i + size]), i))
                i += size
                break
        else:
            word = tokens[i]
            kind = ("num" if word.isdigit() else "one" if word in _ONE_WORDS
                    else "stop" if word in _STOPWORDS or keys[i] in _STOPWORDS else "word")
            items.append(_Item(((kind, word),), (word,), i))
            i += 1
    return items


# Words that say whether one product or several are wanted ("¿cuál es...?" vs "¿cuáles son...?").
_PLURALITY = {"es": -1, "is": -1, "son": 1, "are": 1, "ones": 1}
_ADJECTIVE_ORDER = re.compile(r"^(?:barat|car|economic|costos)[oa]s?$")


def understand(draft: Draft, vocab: Vocabulary, in_catalog: Iterable[str],
               previous: Query | None = None, shown: Sequence[int] = ()) -> Query:
    """Turn a read message into a ``Query``, using the previous one for follow-ups."""
    lang = draft.lang
    if draft.verdict:
        return Query(intent=draft.verdict, lang=lang)
    known = set(in_catalog)
    tokens: list[str] = []
    for token in draft.tokens:
        if token in draft.unknown and token not in known:
            token = vocab.correct(token) or token
        tokens.append(token)
    items = _match(vocab, tokens)
    if _hostile_words(tokens, items):
        return Query(intent="hostile", lang=lang)
    q = Query(lang=lang)
    seen: dict[str, list[str]] = {"category": [], "family": [], "brand": [], "color": [],
                                  "availability": []}
    flags: set[str] = set()
    plural_score = sum(_PLURALITY.get(token, 0) for token in tokens)
    count: int | None = None
    ordinal: int | None = None
    group: str | None = None
    intent: str | None = None
    for n, item in enumerate(items):
        kinds = item.kinds()
        before = items[n - 1].surface[-1] if n else ""
        after = _next_content(items, n)
        for kind in seen:
            value = item.value(kind)
            if value and value not in seen[kind]:
                if kind == "category" and "prep" in (items[n - 1].kinds() if n else set()) \
                        and seen["category"]:
                    q.soft_keywords.append(item.surface[-1])
                    continue
                seen[kind].append(value)
        if "category" in kinds or "generic" in kinds:
            plural_score += 1 if item.plural else -1
        if "order" in kinds:
            q.order = item.value("order")
            if n and "article" in items[n - 1].kinds():
                # "el más caro", "los más baratos": the article right before weighs most.
                plural_score += 2 if items[n - 1].value("article") == "plur" else -2
            word = item.surface[-1]
            if _ADJECTIVE_ORDER.match(word):
                plural_score += 2 if word.endswith("s") else -2
        if "article" in kinds:
            plural_score += 2 if item.value("article") == "plur" else -2
        if "show" in kinds:
            plural_score += 1 if item.surface[-1] in ("cuales", "which") else -1
            flags.add("show")
        if "intent" in kinds:
            intent = item.value("intent")
        if "group" in kinds:
            group = item.value("group")
            if before in ("cada", "each", "every", "por", "per"):
                flags.add("per_group")
        if "ordinal" in kinds and not item.plural:
            # "los primeros 3" is a count (read below), "el primero" picks one.
            ordinal = int(item.value("ordinal") or 1)
        for flag in ("more", "followup", "exist", "cue", "unsupported", "stockq", "filler",
                     "generic", "prep"):
            if flag in kinds:
                flags.add(flag)
        if "num" in kinds:
            number = int(item.surface[0])
            if 0 < number <= 100 and (before in _COUNT_BEFORE or before in ("primeros", "top")
                                      or after in ("subject", "order", "more", "filler")
                                      or len(items) == 1):
                count = number
            else:
                q.keywords.append(item.surface[0])
        elif "one" in kinds and (after in ("subject", "order", "filler") or (
                n == len(items) - 1 and n > 0
                and (before in _COUNT_BEFORE or "order" in items[n - 1].kinds()))):
            count = 1
        elif "word" in kinds:
            word = item.surface[0]
            if word in known:
                q.keywords.append(word)
            else:
                q.ignored.append(word)
    q.categories, q.families, q.brands = seen["category"], seen["family"], seen["brand"]
    q.colors, q.availability = seen["color"], seen["availability"]
    _apply_bounds(q, draft.bounds)
    q.stock_check = "stockq" in flags
    q.exists = "exist" in flags or q.stock_check
    if count is not None and q.exists and count == 1 and "filler" not in flags:
        count = None
    if group and "per_group" in flags and q.order:
        q.group, q.intent = group, "per_group"
    elif group and not getattr(q, _GROUP_FIELD[group]):
        q.group = group
        q.intent = "count" if intent == "count" else "overview"
    elif intent:
        q.intent = intent

    subject = bool(q.categories or q.families or q.brands or q.keywords or "generic" in flags)
    modifiers = bool(q.colors or q.availability or q.order or draft.bounds or count or intent
                     or q.group or q.soft_keywords)
    if "unsupported" in flags:
        return replace(Query(intent="unsupported", lang=lang), ignored=q.ignored)
    if ordinal is not None and previous is not None and shown and not subject:
        index = ordinal - 1 if ordinal > 0 else len(shown) + ordinal
        if 0 <= index < len(shown):
            return Query(intent="pick", pick=int(shown[index]), lang=lang)
    if previous is not None and previous.intent == "list" and "more" in flags and not subject \
            and not (q.order or q.colors or q.availability or draft.bounds or intent or q.group):
        return _page(previous, count, lang)
    singular_answer = plural_score <= 0
    q.limit = _limit(count, q.order is not None and singular_answer)
    if ordinal is not None and ordinal > 1 and q.order and count is None:
        # "el segundo más barato": one product, after the first ones.
        q.offset, q.limit = ordinal - 1, 1
    # A bare "iphone 15" names a product; "algo para la cocina" describes a use.
    q.names_only = bool(q.keywords) and not (
        q.categories or q.families or q.brands or modifiers
        or flags & {"cue", "exist", "generic", "prep"})
    if previous is not None and previous.intent in _FOLLOWABLE:
        followup = draft.leading_followup or bool(flags & {"followup", "show"})
        if (not subject and (modifiers or followup)) or (subject and followup):
            return _merge(previous, q, count, explicit_intent=intent is not None or q.order
                          is not None or count is not None or bool(flags & {"show", "cue"}))
    vocabulary_hit = bool(q.categories or q.families or q.brands or modifiers)
    strong = bool(q.categories or q.families or q.brands or q.keywords or draft.bounds)
    if (not subject and not modifiers) or (q.ignored and not strong) or (
            not vocabulary_hit and len(q.ignored) >= len(q.keywords) and q.ignored):
        # Mostly words the catalog has never heard of ("¿qué es un agujero negro?" knows only
        # a colour): a guess would be a wrong answer.
        return replace(Query(intent="unknown", lang=lang), ignored=q.ignored)
    return q


_GROUP_FIELD = {"category": "categories", "brand": "brands", "family": "families",
                "color": "colors"}
_FOLLOWABLE = {"list", "count", "average", "units", "overview", "pick", "per_group"}


def _next_content(items: Sequence[_Item], n: int) -> str:
    """What the next meaningful item is, skipping 'de'/'of': a subject, an order word, ..."""
    for item in items[n + 1:]:
        kinds = item.kinds()
        if item.surface == ("de",) or item.surface == ("of",):
            continue
        if kinds & {"category", "family", "brand", "generic"}:
            return "subject"
        for kind in ("order", "more", "filler"):
            if kind in kinds:
                return kind
        if "article" in kinds or item.surface[0] in ("mas", "more"):
            continue
        return "other"
    return "end"


def _limit(count: int | None, singular_superlative: bool) -> int:
    if count is not None:
        return max(1, min(count, MAX_LIMIT))
    return 1 if singular_superlative else DEFAULT_LIMIT


def _apply_bounds(q: Query, bounds: dict[str, float]) -> None:
    if "ge" in bounds:
        q.min_price, q.min_inclusive = bounds["ge"], True
    if "gt" in bounds:
        q.min_price, q.min_inclusive = bounds["gt"], False
    if "le" in bounds:
        q.max_price, q.max_inclusive = bounds["le"], True
    if "lt" in bounds:
        q.max_price, q.max_inclusive = bounds["lt"], False
    if "stock_gt" in bounds:
        q.min_stock = int(bounds["stock_gt"]) + 1


def _page(previous: Query, count: int | None, lang: str) -> Query:
    """'más' / 'otros 5': the same search, the next page."""
    if count:
        limit = _limit(count, False)
    else:
        limit = DEFAULT_LIMIT if previous.limit == 1 else previous.limit
    return replace(previous, offset=previous.offset + previous.limit, limit=limit, lang=lang,
                   ignored=[])


def _merge(previous: Query, new: Query, count: int | None, *, explicit_intent: bool) -> Query:
    """A follow-up: the previous filters, with what the new message says on top."""
    merged = replace(previous, offset=0, pick=None, lang=new.lang, ignored=new.ignored,
                     exists=new.exists, stock_check=new.stock_check)
    if new.categories:
        merged.categories, merged.families = new.categories, []
    if new.families:
        merged.families, merged.categories = new.families, []
    for name in ("brands", "colors", "availability", "keywords", "soft_keywords"):
        if getattr(new, name):
            setattr(merged, name, getattr(new, name))
    if new.min_price is not None:
        merged.min_price, merged.min_inclusive = new.min_price, new.min_inclusive
    if new.max_price is not None:
        merged.max_price, merged.max_inclusive = new.max_price, new.max_inclusive
    if new.min_stock is not None:
        merged.min_stock = new.min_stock
    if new.keywords:
        merged.names_only = new.names_only
    merged.order = new.order or previous.order
    merged.limit = new.limit if (count is not None or new.order) else DEFAULT_LIMIT
    if explicit_intent or previous.intent == "pick":
        merged.intent, merged.group = new.intent, new.group
    return merged
