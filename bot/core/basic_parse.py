"""Basic mode, part one: understanding a catalog question as a structured ``Query``.

No model is involved: the text is folded (lower case, no accents), shorthand is rewritten
(``bot.core.basic_words``), number words become digits, sizes with a unit and price bounds are read
with patterns, and the remaining words are matched against a phrase index
built from the catalog's own vocabulary (families, categories, brands, colours, availability
states, read at run time) plus a small, fixed lexicon of shop words in Spanish and English.
Words the index does not know are checked against the catalog's full-text index; a word that is
in neither gets a one-letter typo correction. In a conversation, ``decide`` says whether a
message refines the previous answer or starts a new topic. ``bot.core.basic`` turns the result
into SQL.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bot.catalog.money import MAX_SOLES
from bot.core import basic_words
from bot.core.basic_words import (
    FUNCTION_WORDS,
    expand_shorthand,
    read_attributes,
    read_size_bounds,
)
from bot.core.spanish import is_spanish_word

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
    # Everyday words for what many kinds of shops sell, whatever their catalog calls it.
    "alimento comida",
    "medicamento medicina remedio farmaco",
    "prenda ropa vestimenta",
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
# Everyday words for the groups clothes and other goods are sold in.
_SYNONYM_GROUPINGS = (
    "mujer dama femenino femenina women woman",
    "hombre caballero varon masculino men man",
    "nino nina infantil kids",
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
                      "de_mayor_a_menor high_to_low highest_first higher_priced high_priced "
                      # "¿tienes uno mejor?": higher up the range than what was shown.
                      "uno_mejor una_mejor algo_mejor otro_mejor otra_mejor alguno_mejor "
                      "alguna_mejor mas_bueno mas_buena mejorcito mejorcita",
        "stock_desc": "mas_stock mayor_stock most_stock more_stock mas_unidades most_units",
        # The size of a presentation ("Botella 3 L" is bigger than "Botella 500 ml").
        "size_desc": "mas_grande mas_grandes mayor_tamano mas_grandote biggest largest "
                     "grande grandes familiar bigger larger",
        "size_asc": "mas_chico mas_chica mas_chicos mas_chicas mas_pequeno mas_pequena "
                    "mas_pequenos mas_pequenas menor_tamano mas_chiquito mas_chiquita smallest "
                    "pequeno pequena pequenos pequenas chiquito chiquita personal smaller",
        # A size named by what it measures: "la tele de más pulgadas", "el celu con más
        # memoria" compare that quantity of the name ("order@measure", see ``_take_order``).
        "size_desc@inch": "mas_pulgadas mas_pulgada mayor_pulgaje mas_pantalla "
                          "pantalla_mas_grande most_inches",
        "size_asc@inch": "menos_pulgadas menos_pulgada menor_pulgaje pantalla_mas_chica "
                         "pantalla_mas_pequena",
        "size_desc@storage": "mas_memoria mayor_memoria mas_almacenamiento "
                             "mayor_almacenamiento mas_capacidad mayor_capacidad mas_gigas "
                             "mas_gb most_storage more_storage",
        "size_asc@storage": "menos_memoria menor_memoria menos_almacenamiento "
                            "menor_almacenamiento menos_capacidad menor_capacidad menos_gigas "
                            "menos_gb least_storage",
        "size_desc@volume": "mas_litros mas_litro",
        "size_asc@volume": "menos_litros",
        "size_desc@weight": "mas_kilos mas_pesado mas_pesada",
        "size_asc@weight": "menos_kilos mas_liviano mas_liviana",
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
        "size": "talla size presentacion medida tamano",
    },
    "generic": {"": "producto articulo item product cosa todo catalogo catalog everything "
                    "anything something algo stuff thing mercaderia lo_que_tienen what_you_have"},
    "filler": {"": "ejemplo example opcion option resultado result modelo model sabor "
                   "alternativa "
                   "alternative sugerencia suggestion recomendacion recommendation"},
    "more": {"": "mas more otro otra other others another siguiente next resto rest adicional "
                 "additional demas los_demas las_demas"},
    # "algo parecido", "uno similar": other products of the same kind as the ones shown.
    "similar": {"": "parecido parecida similar igualito igualita algo_asi del_mismo_tipo "
                    "del_mismo_estilo alike"},
    "followup": {"": "esos esas estos estas ellos ellas those these them they pero but "
                     "tambien also"},
    # Words that narrow what was shown: "solo las de lata" keeps the milk and wants cans.
    "narrow": {"": "de_esos de_esas of_those entre_ellos entre_ellas among_them among_those "
                   "solo solamente only just"},
    "ordinal": {"1": "primero primera primer first 1ro 1st", "2": "segundo segunda second 2do 2nd",
                "3": "tercero tercera tercer third 3ro 3rd", "4": "cuarto cuarta fourth 4to 4th",
                "5": "quinto quinta fifth 5to 5th", "6": "sexto sexta sixth 6to 6th",
                "7": "septimo septima seventh 7mo 7th", "8": "octavo octava eighth 8vo 8th",
                "9": "noveno novena ninth 9no 9th", "10": "decimo decima tenth 10mo 10th",
                "-1": "ultimo ultima last"},
    "exist": {"": "tienen tiene tienes venden vende vendes hay have has sell sells carry got "
                  "existe existen manejan manejas trabajan trabajas disponen do_you_have "
                  "is_there are_there"},
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
                        "atienden atiende abren abierto cierran open_today opening_hours "
                        "direccion ubicacion metodo_de_pago medios_de_pago pago tarjeta yape plin "
                        "cuota devolucion reembolso factura boleta novedades newest latest "
                        "mas_reciente recien_llegado mas_nuevo mas_nueva ultimo_modelo "
                        "newer recent"},
    "prep": {"": "para for con with de of compatible compatible_con"},
    # What comes after these is left out: "leche que no sea Gloria", "todas menos Samsung".
    "except": {"": "que_no_sea que_no_sean no_sea no_sean que_no_es que_no_son menos excepto "
                   "salvo aparte_de fuera_de sin except excluding other_than not_from"},
    # "¿y de otra marca?": the previous answer's brand (colour...) left out.
    "other": {"brand": "otra_marca otras_marcas otro_fabricante another_brand other_brands "
                       "other_brand different_brand",
              "color": "otro_color otros_colores another_color other_colors other_colours "
                       "another_colour",
              "category": "otro_tipo otros_tipos otra_categoria otras_categorias"},
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
""") | FUNCTION_WORDS

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

_AMOUNT = (r"(?:s/\.?|\$|pen|usd)?\s*-?(?P<{0}>\d{{1,3}}(?:[.,]\d{{3}})+(?:[.,]\d{{1,2}})?"
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
               rf"no pasen?|no (?:exceda|supere)n?|no (?:cueste|valga)n? mas|"
               rf"no more than|tope de|presupuesto de|budget of|budget)\s+(?:de\s+)?"
               rf"{_amount('a')}"),
        ("lt", rf"\b(?:menos de|menos que|menor(?:es)? (?:a|que|de)|por debajo de|debajo de|bajo|"
               rf"mas barat[oa]s? (?:que|de)|mas economic[oa]s? (?:que|de)|"
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
#: A complaint about a purchase or the shop: answered with an apology and where to turn.
_COMPLAINT = re.compile(
    r"\b(?:estaf\w*|ladron\w*|rob(?:aron|o)\b|malogr\w*|defectuos\w*|fallad\w*|reclam\w*|"
    r"queja\w*|quejar\w*|denunci\w*|indecopi|pesim\w*|"
    r"vino (?:roto|rota|mal)|me (?:vendieron|dieron) (?:algo )?(?:roto|malo|falso)|"
    r"scam\w*|rip.?off|defective|complain\w*)\b")
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
    # "3/8" alone is a size ("fierro de 3/8"); a division needs "=" or "cuánto es".
    r"|\d+\s*[-+*x]\s*\d+\s*(?:=|\?|$)|\d+\s*/\s*\d+\s*="
    r"|\b(?:cuanto es|what is|what's|calcula|calculate)\s+\d+(?:[.,]\d+)?\s*(?:por|mas|menos|"
    r"entre|dividido|times|plus|minus|divided|multiplied|x|\*|\+|-|/)\s*(?:by\s+|para\s+)?\d+")
#: The single words among the off-topic subjects ("medicina", "libro"), for close forms.
_TOPIC_WORDS = frozenset(w for w in re.findall(r"(?<=[(:|])[a-z]+(?=[|)])",
                                                _TOPIC.pattern.split(")\\b")[0]))
_GREETING = _wordset("""hola holi buenas buenos dias tardes noches hi hello hey good morning
afternoon evening saludos que tal como estas how are you gracias thanks thank muchas chau adios
bye ok okay vale genial perfecto listo kratos bot asistente assistant start chao nos vemos
hasta luego pronto see later goodbye agradezco de nada""")
# Small talk that is not a greeting: answered as what it is, never with "¡Hola!".
_THANKS = frozenset({"gracias", "thanks", "thank", "agradezco"})
_BYE = frozenset({"chau", "chao", "adios", "bye", "goodbye", "luego", "vemos", "later"})
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
    #: Words of the store's product names: typos of them are corrected too ("shampo").
    text_words: frozenset[str] = field(default_factory=frozenset, repr=False)
    #: Everyday words that are products of this store ("papas" where chips are sold, not
    #: "papá"): never read as function words here.
    sold_nouns: frozenset[str] = field(default_factory=frozenset, repr=False)
    #: Words the store's product names start with, past what they come in ("cemento",
    #: "taladro", "cerveza" of "Pack Cerveza"): a question naming one asks about that product.
    nouns: frozenset[str] = field(default_factory=frozenset, repr=False)
    #: Values of several words, run together ("incakola"), for typos across words.
    joined: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: How each correction target sounds (``sound``) -> the targets: "martiyo" is "martillo".
    sounds: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, *, families: Sequence[str], categories: Sequence[str], brands: Sequence[str],
              colors: Sequence[str], availability: Sequence[str],
              group_words: Mapping[str, str] | None = None,
              product_words: Sequence[str] = (), brand_tails: bool = False,
              roles: Collection[str] | None = None,
              text_words: Collection[str] = (),
              first_words: Collection[str] = (),
              groupings: Mapping[str, Sequence[str]] | None = None) -> Vocabulary:
        """Index the catalog's values, their singular forms and the fixed shop lexicon.

        ``group_words`` maps a group (category, brand, family, color) to the store's own word
        for its column ("autor", "laboratorio", "género"), so "¿qué autores tienen?" lists them.
        ``product_words`` are the store's nouns for its products ("libro", "medicamento"): they
        mean "any product". With ``brand_tails``, a brand of several words is also known by its
        last ones ("García Márquez", "Márquez" for "Gabriel García Márquez"). ``roles`` are the
        catalog's columns (standard names; None: all of them): a typo is never corrected into a
        word that only asks about a column the store lacks ("dolor" is not "color" there).
        ``text_words`` are words of the store's product names ("shampoo", "paracetamol"), known
        to typo correction only; ``first_words`` the words names start with, which are products
        even when they are everyday words elsewhere ("Papas Lay's": "papas" is no "papá").
        ``groupings`` maps a grouping column of the store's (see
        ``CatalogLayout.groupings``) to its values ("Perro", "Gato"), read as filters.
        """
        index: dict[tuple[str, ...], list[Term]] = {}

        def add(key: tuple[str, ...], term: Term) -> None:
            if key and term not in index.setdefault(key, []):
                index[key].append(term)

        _index_store_words(add, group_words or {}, product_words)
        _index_fixed(add)
        for value in availability:
            add(phrase_key(value), ("availability", value))
            for phrase in _SYNONYM_AVAILABILITY.get(fold(value), "").split():
                add(phrase_key(phrase), ("availability", value))
        _index_values(add, "family", families, _SYNONYM_FAMILIES)
        _index_values(add, "category", categories, _SYNONYM_TYPES)
        _index_groupings(add, index, groupings or {})
        for brand in brands:
            _index_brand(add, brand, brand_tails)
        for color in colors:
            _index_color(add, color)
        lexicon = {w for key in index for w in key} | _STOPWORDS | set(_UNITS)
        names = {singular(w) for w in text_words if w.isalpha()} - lexicon
        surfaces = _surfaces((lexicon | names) - _unanswerable(index, roles))
        sounds: dict[str, set[str]] = {}
        for surface, key in surfaces.items():
            sounds.setdefault(sound(surface), set()).add(key)
        return cls(families=tuple(families), categories=tuple(categories), brands=tuple(brands),
                   colors=tuple(colors), availability=tuple(availability),
                   index={k: tuple(v) for k, v in index.items()}, lexicon=frozenset(lexicon),
                   surfaces=surfaces, max_phrase=max((len(k) for k in index), default=1),
                   own_words=_sold_words(index, (*families, *categories)),
                   text_words=frozenset(names),
                   sold_nouns=frozenset(w for w in (singular(t) for t in first_words)
                                        if w in FUNCTION_WORDS and len(w) >= 4),
                   nouns=frozenset(singular(w) for w in first_words
                                   if len(w) >= 3 and w not in basic_words.CONTAINERS),
                   joined={"".join(key): key for key, terms in index.items()
                           if len(key) > 1 and any(kind in _NAMING for kind, _ in terms)},
                   sounds={k: frozenset(v) for k, v in sounds.items()})

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
            return self._by_sound(word)
        # A word that says nothing ("your") loses a tie to a word of the store ("yogurt").
        ranked = sorted(found.items(), key=lambda item: (item[1][0], item[0] in _STOPWORDS))
        best = ranked[0][1][0]
        if len(ranked) > 1 and ranked[1][1][0] == best:
            meanings = {self.index.get((k,), (("stop", k),)) for k, (r, _) in ranked
                        if r == best and (k not in _STOPWORDS or k == ranked[0][0])}
            if len(meanings) > 1:
                return None
        return ranked[0][1][1]

    def _by_sound(self, word: str) -> str | None:
        """The one known word that sounds like ``word`` ("zapatiyas" -> "zapatillas")."""
        keys = self.sounds.get(sound(word), frozenset())
        if len(keys) != 1 or len(word) < 4:
            return None
        (key,) = keys
        # Four letters are enough for a word of the store's own names ("inka" is "inca" of
        # "Inca Kola"), not for a word of the lexicon ("beer" is no "ver").
        if len(word) == 4 and not (key in self.text_words or any(
                key in value for value in self.joined.values())):
            return None
        return key


def sound(word: str) -> str:
    """How a Spanish word sounds, spelled one way: "ll" and "y", "v" and "b", "z", "ce"/"ci"
    and "s", "qu"/"c"/"k", a silent "h", double letters ("martiyo" and "martillo" sound alike)."""
    text = word.replace("ch", "0").replace("ll", "y").replace("qu", "k")
    text = re.sub(r"c(?=[ei])", "s", text).replace("c", "k").replace("z", "s").replace("v", "b")
    text = re.sub(r"(.)\1", r"\1", text.replace("h", ""))
    return text.replace("0", "ch")


def _unanswerable(index: Mapping[tuple[str, ...], Sequence[Term]],
                  roles: Collection[str] | None) -> set[str]:
    """Words whose every meaning needs a column the catalog lacks ("color" without colours,
    "marca" without brands, "unidades" without stock): no typo is corrected into them."""
    if roles is None:
        return set()
    needs = {("group", role): role for role in (*_GROUP_ROLES, "size")}
    needs.update({("intent", "units"): "stock", ("order", "stock_desc"): "stock",
                  ("stockq", ""): "availability"})
    return {key[0] for key, terms in index.items() if len(key) == 1 and all(
        term in needs and needs[term] not in roles for term in terms)}


_GROUP_ROLES = ("category", "brand", "family", "color")
#: Kinds of values that name what is sold (a typo across their words is corrected).
_NAMING = ("category", "brand", "family", "grouping")


def _words_of_store(word: str, vocab: Vocabulary) -> bool:
    """Whether ``word`` is a word of the store's names or of its values (not of the fixed
    lexicon: "marcas" is no product word)."""
    key = singular(word)
    return key in vocab.text_words or any(
        kind in (*_NAMING, "color") for kind, _ in vocab.index.get((key,), ()))


def _sold_words(index: Mapping[tuple[str, ...], Sequence[Term]],
                values: Sequence[str]) -> frozenset[str]:
    """Words for what the store sells: its product nouns and its families' and categories'
    words (singular, folded), e.g. "medicamento", "analgesico", "libro", "novela"."""
    generic = {w for key, terms in index.items() if any(kind == "generic" for kind, _ in terms)
               for w in key}
    return frozenset(generic | {w for value in values for w in phrase_key(value) if len(w) >= 4})


def _index_store_words(add: Any, group_words: Mapping[str, str],
                       product_words: Sequence[str]) -> None:
    """The store's words for its columns ("autor") and for its products ("libro")."""
    for group, word in group_words.items():
        if group in ("category", "brand", "family", "color"):
            add(phrase_key(word), ("group", group))
    for word in product_words:
        add(phrase_key(word), ("generic", ""))
    # A subject word that is a synonym of the store's noun for its products means its
    # products too: "medicina" in a pharmacy whose products are "medicamentos".
    nouns = frozenset(w for word in product_words for w in phrase_key(word))
    for topic in _TOPIC_WORDS:
        if _close_form(topic, nouns):
            add((topic,), ("generic", ""))


def _index_fixed(add: Any) -> None:
    """The fixed shop lexicon: orders, intents, groups, cue words, stock questions."""
    for kind, values in _FIXED.items():
        for value, phrases in values.items():
            for phrase in phrases.split():
                add(phrase_key(phrase), (kind, value))
    for phrase in _STOCK_QUESTION.split():
        add(phrase_key(phrase), ("stockq", ""))


def _index_brand(add: Any, brand: str, tails: bool) -> None:
    """A brand, its words run together ("Black+Decker" as "blackdecker") and, with ``tails``,
    its last words ("Márquez" for "Gabriel García Márquez")."""
    key = phrase_key(brand)
    add(key, ("brand", brand))
    if len(key) > 1:
        add(("".join(words(brand)),), ("brand", brand))
    if tails:
        for start in range(1, len(key)):
            # "Cola" of "Coca-Cola" is what customers call any cola, not that brand.
            if len(key[start]) >= 4 and not (start == len(key) - 1
                                             and basic_words.is_related(key[start])):
                add(key[start:], ("brand", brand))


def _index_color(add: Any, color: str) -> None:
    """A colour value, its feminine form and the synonyms of its group ("negro", "black")."""
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


def _surfaces(lexicon: Iterable[str]) -> dict[str, str]:
    """Each known word and its real plurals, pointing at the word (typo correction's targets)."""
    surfaces: dict[str, str] = {}
    for word in lexicon:
        # Only real plurals: a made-up "barataes" would out-rank the "baratas" a typo meant.
        for surface in (word, word + "s", word + "es"):
            if surface == word or singular(surface) == word:
                surfaces.setdefault(surface, word)
    return surfaces


def _index_groupings(add: Any, index: Mapping[tuple[str, ...], Any],
                     groupings: Mapping[str, Sequence[str]]) -> None:
    """A grouping column's values ("Perro", "Mujer") as ``grouping`` terms "column=value",
    unless the words already mean something else ("Otro", "Nuevo") or nothing ("de")."""
    for name, values in groupings.items():
        for value in values:
            key = phrase_key(value)
            if key and key not in index and not all(w in _STOPWORDS for w in key):
                term = ("grouping", f"{name}={value}")
                add(key, term)
                for group in _SYNONYM_GROUPINGS:
                    members = [phrase_key(word) for word in group.split()]
                    if key in members:
                        for member in members:
                            add(member, term)


def _index_values(add: Any, kind: str, values: Sequence[str], groups: Sequence[str]) -> None:
    """Index catalog values of one kind, their head word, and any synonym group they belong to."""
    heads: dict[str, list[str]] = {}
    for value in values:
        key = phrase_key(value)
        if key in _OTHER_WORDS:
            # A category "Otros": "¿tienes otro?" asks for another product, not for it.
            continue
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


#: "otro", "otra", "otros", "otras", "other": never a value of the catalog.
_OTHER_WORDS = frozenset(phrase_key(w) for w in ("otro", "otra", "otros", "otras", "other",
                                                "others", "another"))


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
    #: Values of the store's grouping columns, as "column=value" ("grouping_1=Perro").
    groupings: list[str] = field(default_factory=list)
    min_price: float | None = None
    min_inclusive: bool = True
    max_price: float | None = None
    max_inclusive: bool = True
    min_stock: int | None = None
    keywords: list[str] = field(default_factory=list)
    soft_keywords: list[str] = field(default_factory=list)
    #: Words a product's name must start with: the kind of the products shown ("leche"), so
    #: "otra marca" of "aceite" is no "Atún en aceite".
    heads: list[str] = field(default_factory=list)
    #: Words that must name the product itself, not only what it comes in or with: "el
    #: aceite más barato" is no "Atún A1 en aceite".
    kind_words: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    names_only: bool = False
    #: Values left out, as "column=value" ("brand=Gloria"): "leche que no sea Gloria".
    excluded: list[str] = field(default_factory=list)
    #: "otra marca", "otro color": the columns whose previous values a follow-up leaves out.
    others: list[str] = field(default_factory=list)
    order: str | None = None
    #: What a size order compares ("inch", "storage", "volume", "weight"); None: the first
    #: quantity a product's size or name states.
    measure: str | None = None
    #: "other" ("¿tienes otro?"): the next ones, or other products of the same kind once all
    #: were shown.
    move: str | None = None
    #: "cheaper" / "pricier" / "bigger" / "smaller" than the products shown ("¿tendrás uno más
    #: baratito?", "¿una más grande?").
    relative: str | None = None
    #: Size bounds, in the base unit of ``measure`` (litres, kilos, inches, GB): "bigger than
    #: the 1 L shown" is ``min_size`` 1.0, exclusive.
    min_size: float | None = None
    max_size: float | None = None
    #: Words for how a product is handed over that the catalog cannot promise ("fría").
    unsaid: list[str] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    group: str | None = None
    pick: int | None = None
    #: "¿qué hay a 100 soles?", "¿qué taladros tienen?": what there is, not whether: no "Sí".
    asks_what: bool = False
    #: How the customer wrote product words that folding changed ("panales": "pañales").
    spelled: dict[str, str] = field(default_factory=dict)
    #: A price written with a minus sign was left out ("laptop de -5 soles").
    negative: bool = False
    #: "¿cuánto cuesta el de Stanley?": one of the products shown, named by its brand or
    #: colour; when one alone matches, it is answered as picked from the list.
    which: bool = False
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
    attributes: list[str] = field(default_factory=list)
    #: Sizes said as bounds: (measure, "min" or "max", amount), see ``read_size_bounds``.
    sizes: list[tuple[str, str, float]] = field(default_factory=list)
    #: A price written with a minus sign ("-5 soles"), left out of the bounds.
    negative: bool = False
    #: What the customer typed for words shorthand stands for ("porque": "xq").
    typed: dict[str, str] = field(default_factory=dict)


def read(text: str, vocab: Vocabulary, lang: str) -> Draft:
    """Decide what needs no catalog (hostile, off-topic, greeting, help) and list unknown words."""
    folded = fold(text)
    flat = " ".join(folded.split())
    if any(p.search(flat) for p in _HOSTILE):
        return Draft(lang=lang, verdict="hostile")
    if _CREATIVE.search(flat):
        return Draft(lang=lang, verdict="offtopic")
    if _COMPLAINT.search(flat):
        return Draft(lang=lang, verdict="complaint")
    rest, sizes = read_size_bounds(_numbers_to_digits(_negated_stock(expand_shorthand(flat))))
    rest, attributes = read_attributes(rest)
    # "algo más barato que 2500": a bound set against what was shown, so a follow-up.
    compared = _COMPARED.search(rest) is not None
    rest, bounds = _price_bounds(rest)
    negative = bool(bounds.pop("negative", None))
    tokens = _TOKEN.findall(rest)
    draft = Draft(lang=lang, tokens=tokens, bounds=bounds, attributes=attributes, sizes=sizes,
                  leading_followup=_leads_with_and(tokens) or compared, negative=negative,
                  typed=basic_words.shorthand_typed(flat))
    if (not bounds and not attributes and not sizes and any(t in _GREETING for t in tokens)
            and all(t in _GREETING or t in _STOPWORDS for t in tokens)):
        draft.verdict = _small_talk(flat, set(tokens))
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
    # A quality ("helado") may be a product of this store: looked up like an unknown word.
    draft.unknown = list(dict.fromkeys(
        item.surface[0] for item in _match(vocab, tokens)
        if item.kinds() in ({"word"}, {"quality"}) and item.surface[0] not in _GREETING))
    return draft


#: A price bound said by comparison: "más barato que 2500", "cheaper than 300".
_COMPARED = re.compile(r"\bmas (?:barat|economic|car|costos)[oa]s? (?:que|de)\s|"
                       r"\b(?:cheaper|pricier|more expensive|less expensive|lower) than\b")
#: Words a message may open with before its "y" ("ok y algo más barato", "ya, y el rojo?").
_OPENERS = frozenset({"ok", "okay", "ya", "bueno", "ah", "aja", "entonces", "listo", "vale",
                      "dale", "oye", "mmm", "ahh", "so", "well"})


def _leads_with_and(tokens: Sequence[str]) -> bool:
    """Whether the message opens with "y" ("¿y de marca Sol?"), maybe after "ok" or "ya"."""
    rest = list(itertools.dropwhile(lambda t: t in _OPENERS, tokens))
    return bool(rest) and rest[0] in ("y", "and", "e")


#: "no tienen stock", "no están disponibles", "no hay en stock": the sold-out state.
_NO_STOCK = re.compile(r"\bno\s+(?:tienen|tiene|tenemos|hay|quedan|queda|estan|esta|cuentan con)"
                       r"\s+(?:en\s+|con\s+)?(?:stock|disponibles?|existencias?)\b")
#: "¿cuáles no hay?", "¿qué celulares no tienen?": a question word, maybe a noun, then the "no".
_WHICH_NOT = re.compile(r"\b(cuales|que)((?:\s+[a-z]+)?)\s+no\s+(?:hay|tienen|tiene|quedan|"
                        r"queda|estan|venden)\b(?!\s+(?:de|en|con)\b)")


def _negated_stock(text: str) -> str:
    """Questions about what is out of stock, said with "no", as the sold-out state: "¿qué
    productos no tienen stock?" asks for "productos agotados", never for those in stock."""
    text = _NO_STOCK.sub(" agotado ", text)
    return _WHICH_NOT.sub(lambda m: f"{m.group(1)}{m.group(2)} agotado", text)


def _off_topic(flat: str, vocab: Vocabulary) -> bool:
    """An off-topic subject, unless it is what this store sells ("libro" in a bookstore,
    "medicinas" in a pharmacy whose products are "medicamentos")."""
    return any(not _sold_here(match.group(0), vocab) for match in _TOPIC.finditer(flat))


def _sold_here(topic: str, vocab: Vocabulary) -> bool:
    """Whether a topic word (folded) is, or is a synonym of, a word for what the store sells
    ("medicina" and "medicamento"; "médico" is not "medicamento", however alike they look)."""
    word = singular(topic)
    return word in vocab.own_words or _close_form(word, vocab.own_words)


def _close_form(word: str, words: frozenset[str]) -> bool:
    """Whether ``word`` (singular) is one of ``words`` or shares a synonym group with one."""
    word = singular(word)
    return word in words or any(word in group and group & words for group in _SYNONYM_SETS)


#: The synonym groups of product types and families, as sets of singular words.
_SYNONYM_SETS = tuple(frozenset(singular(w) for w in group.split())
                      for group in (*_SYNONYM_TYPES, *_SYNONYM_FAMILIES))


def color_words() -> frozenset[str]:
    """Colour names basic mode knows, folded, in both genders ("rojo", "roja", "red")."""
    names = {name for group in _SYNONYM_COLORS for name in group.split()}
    return frozenset(names | {name[:-1] + "a" for name in names if name.endswith("o")})


def _small_talk(flat: str, tokens: set[str]) -> str:
    """"help", "thanks", "bye" or "greeting" for a message made only of courtesy words."""
    if _HELP.search(flat):
        return "help"
    if tokens & _THANKS:
        return "thanks"
    if tokens & _BYE:
        return "bye"
    return "greeting"


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
    text = _spoken_quantities(text)
    # "aceite de litro", "arroz de un kilo": one of the unit.
    text = re.sub(r"\b(?:de|un|una)\s+(?:un\s+)?(litros?|kilos?|kg|galon|galones)\b", r"de 1 \1",
                  text)
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


#: Quantities said in words, as a presentation writes them: "litro y medio" is "1.5 litros",
#: "medio kilo" and "1/2 kg" are "500 g", "six pack" and "pack de 6" are "pack 6", "media
#: pulgada" and "tres cuartos de pulgada" are "1/2 pulgada" and "3/4 pulgada".
_SPOKEN_QUANTITIES = (
    (r"\b(?:(\d+)|un|una)?\s*(litros?|kilos?|kg|galon(?:es)?)\s+y\s+medio\b",
     lambda m: f"{m.group(1) or 1}.5 {m.group(2)}"),
    (r"\b(?:medio|1/2)\s*(?:kilo|kg|kilogramo)s?\b", lambda m: "500 g"),
    (r"\b(?:un\s+)?cuarto\s+de\s+kilo\b|\b1/4\s*(?:kilo|kg)\b", lambda m: "250 g"),
    (r"\b(?:medio|1/2)\s*litros?\b", lambda m: "500 ml"),
    (r"\bmedia\s+pulgadas?\b", lambda m: "1/2 pulgada"),
    (r"\b(?:un\s+)?cuarto\s+de\s+pulgadas?\b", lambda m: "1/4 pulgada"),
    (r"\b(?:3|tres)\s+cuartos\s+(?:de\s+)?pulgadas?\b", lambda m: "3/4 pulgada"),
    (r"\b(?:una\s+)?pulgada\s+y\s+media\b", lambda m: "1 1/2 pulgada"),
    (r"\bsix\s*pack\b|\bsixpack\b", lambda m: "pack 6"),
    (r"\b(?:el|la|por|x|a)\s+(kilo|kg|litro)\b", lambda m: f"1 {m.group(1)}"),
)


def _spoken_quantities(text: str) -> str:
    """Quantities said in words, in numbers and units (see ``_SPOKEN_QUANTITIES``)."""
    for pattern, number in _SPOKEN_QUANTITIES:
        text = re.sub(pattern, number, text)
    return text


def numbers_to_digits(text: str) -> str:
    """Number words and quantities said in words as digits: "six pack" -> "pack 6", "una
    docena" -> "12", "litro y medio" -> "1.5 litro" (folded text in, folded text out)."""
    return _numbers_to_digits(text)


def _to_number(raw: str, multiplier: str | None) -> float:
    parts = re.split(r"[.,]", raw)
    if len(parts) > 1 and len(parts[-1]) in (1, 2):
        number = float("".join(parts[:-1]) + "." + parts[-1])
    else:
        number = float("".join(parts))
    # "menos de 99999999999999999999999999 soles": any amount past MAX_SOLES (or too long for
    # a float) bounds the search exactly as MAX_SOLES does, since no price comes near it.
    return min(number * 1000 if multiplier else number, float(MAX_SOLES))


def _negative(text: str, match: re.Match[str], group: str) -> bool:
    """Whether the amount ``group`` of ``match`` is written with a minus sign ("-5 soles"),
    not after another number as a range ("s/ 5-10")."""
    start = match.start(group)
    return start > 0 and text[start - 1] == "-" and not text[:start - 1].rstrip()[-1:].isdigit()


def _price_bounds(text: str) -> tuple[str, dict[str, float]]:
    """Read price (and stock) bounds; return the text without them. A negative amount is no
    price: its bound is left out, and ``bounds["negative"]`` says one was written."""
    bounds: dict[str, float] = {}
    for kind, pattern in _PRICE_PATTERNS:
        while match := pattern.search(text):
            negative = [g for g in ("a", "b")
                        if match.groupdict().get(g) and _negative(text, match, g)]
            if negative:
                bounds["negative"] = 1
                if negative == ["a"] and kind == "between":
                    # "entre -5 y 500": no price is below zero, so only the top is a bound.
                    bounds["le"] = _to_number(match.group("b"), match.group("bx"))
                text = text[:match.start()] + " " + text[match.end():]
                continue
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
                    else "quality" if basic_words.is_quality(word)
                    else "word" if keys[i] in vocab.sold_nouns
                    else "stop" if word in _STOPWORDS or keys[i] in _STOPWORDS
                    or basic_words.is_function_word(word) else "word")
            items.append(_Item(((kind, word),), (word,), i))
            i += 1
    return items


# Words that say whether one product or several are wanted ("¿cuál es...?" vs "¿cuáles son...?").
_PLURALITY = {"es": -1, "is": -1, "son": 1, "are": 1, "ones": 1}
_ADJECTIVE_ORDER = re.compile(r"^(?:barat|car|economic|costos)[oa]s?$")
_VALUE_KINDS = ("category", "family", "brand", "color", "availability", "grouping")
_FLAG_KINDS = ("more", "followup", "narrow", "exist", "cue", "unsupported", "stockq", "filler",
               "generic", "prep", "similar")
# A first word that makes the message a yes/no question ("¿alguna Sony?", "any from Apple?").
_VAGUE = frozenset({"algo", "something", "anything"})
_EXIST_OPENERS = frozenset({"alguna", "alguno", "algun", "algunas", "algunos", "any"})
#: Question words that ask what there is, not whether there is some.
_WH = frozenset({"que", "cuales", "cual", "what", "which"})
#: Singular demonstratives, which are also verbs ("cuánto está") or say one product.
_THIS = frozenset({"esta", "este", "esto", "eso", "esa", "ese", "ella", "el"})
#: Generic words that may mean "all of those" ("todos los de Samsung"), not any product.
_ALL = frozenset({"todo", "toda", "todos", "todas", "everything"})
#: What makes a message work on the previous answer: "esos", "solo", "parecido", "otro".
_FOLLOWUP_FLAGS = frozenset({"pointer", "narrow", "similar", "other_one", "comparative"})


@dataclass
class Reading:
    """What the words of one message ask for, before it is set against the conversation."""

    q: Query
    flags: set[str] = field(default_factory=set)
    values: dict[str, list[str]] = field(
        default_factory=lambda: {kind: [] for kind in _VALUE_KINDS})
    plural_score: int = 0
    count: int | None = None
    ordinal: int | None = None
    #: "el 7", "el número 7": a number that may be the one a list showed a product with.
    number: int | None = None
    group: str | None = None
    intent: str | None = None
    bounds: bool = False

    @property
    def names_things(self) -> bool:
        """It names a product type, family or brand."""
        return bool(self.q.categories or self.q.families or self.q.brands or self.q.groupings)

    @property
    def subject(self) -> bool:
        """It says what to look for: a type, family, brand, product words or "something"."""
        return self.names_things or bool(self.q.keywords) or "generic" in self.flags

    @property
    def modifiers(self) -> bool:
        """It narrows, orders, counts or pages whatever is being looked at."""
        q = self.q
        return any((q.colors, q.availability, q.order, self.bounds, self.count, self.intent,
                    q.group, q.soft_keywords, q.attributes, q.excluded, q.others,
                    "similar" in self.flags, q.min_size is not None, q.max_size is not None))

    @property
    def clear_without_words(self) -> bool:
        """It asks the catalog something whole without naming a product: an order ("el más
        barato"), or any product ("productos", "algo") with a count or a price ("5 productos
        baratos", "algo de menos de 10"). Words it does not know are then only noted ("5
        productos baratos pa la lonchera"); a price alone ("¿me prestas 50 soles?") is not
        enough."""
        if self.flags & {"generic", "vague"}:
            return bool(self.q.order) or self.count is not None or self.bounds
        # "el más barato pa la lonchera": the word says what for; in "pollos baratos" it is
        # the product asked for, which the store does not have.
        return bool(self.q.order) and "unplaced" not in self.flags

    @property
    def off_catalog(self) -> bool:
        """Its meaningful words are not about the catalog: "¿me prestas 50 soles?"."""
        q = self.q
        if not q.ignored:
            return False
        strong = self.names_things or bool(q.keywords or q.attributes) \
            or self.clear_without_words
        vocabulary_hit = self.names_things or self.modifiers
        return not strong or (not vocabulary_hit and len(q.ignored) >= len(q.keywords))


def understand(draft: Draft, vocab: Vocabulary, in_catalog: Iterable[str],
               previous: Query | None = None, shown: Sequence[int] = (),
               numbered: Mapping[int, int] | None = None) -> Query:
    """Turn a read message into a ``Query``, using the previous one for follow-ups.

    Four steps, each usable alone: ``read_words`` (typos), ``find_constraints`` (what the
    words ask for), ``decide`` (new question, refinement, new topic, pick or next page) and
    ``build_query``.
    """
    if draft.verdict:
        return Query(intent=draft.verdict, lang=draft.lang)
    known = set(in_catalog)
    tokens, originals = read_words(draft, vocab, known)
    if _hostile_words(tokens, _match(vocab, tokens)):
        return Query(intent="hostile", lang=draft.lang)
    reading = find_constraints(draft, vocab, tokens, known, originals)
    decision = decide(reading, draft, previous, shown, numbered)
    query = build_query(decision, reading, draft, previous, shown, numbered)
    query.negative = draft.negative
    return query


def read_words(draft: Draft, vocab: Vocabulary,
               known: set[str]) -> tuple[list[str], dict[str, str]]:
    """The message's words with one-letter typos corrected, and what the user typed instead.

    A word the catalog's text contains (``known``) is never "corrected", nor is a Spanish word
    ("dolor", "calor", "pollos"): it is looked for as written. A word corrected into a word of
    the store's names ("shampo" -> "shampoo") joins ``known``.
    """
    tokens: list[str] = []
    originals: dict[str, str] = dict(draft.typed)
    for token in draft.tokens:
        if basic_words.is_quality(token) and token not in known:
            # "gaseosa helada" is no "helado", even where the store sells ice cream.
            tokens.append(token)
            continue
        if token in draft.unknown and token not in known:
            plain = _undiminished(token, vocab) or _other_gender(token, vocab)
            if plain:
                originals.setdefault(plain, token)
                if not basic_words.is_quality(plain) and (
                        plain not in _STOPWORDS or singular(plain) in vocab.sold_nouns):
                    known.add(plain)
                token = plain
        if token in draft.unknown and token not in known and (
                remedy := _remedy_for(token, vocab)):
            # "algo pa la gripe": the store's "Antigripales".
            originals.setdefault(remedy, token)
            known.add(remedy)
            token = remedy
        if token in draft.unknown and token not in known \
                and not is_spanish_word(token, (singular(token),)):
            fixed = vocab.correct(token)
            if fixed and (singular(fixed) in vocab.text_words or any(
                    singular(fixed) in key for key in vocab.joined.values())):
                # "una inka": "inca" of "Inca Kola" is looked for in the names.
                known.add(fixed)
            if fixed:
                originals.setdefault(fixed, token)
                token = fixed
        tokens.append(token)
    return _fix_phrases(tokens, vocab), originals


#: Diminutive and augmentative endings and what they replace: "perrito" is "perro", "cafecito"
#: "cafe", "panecito" "pan", "cosita" "cosa", "calientito" "caliente", "grandazo" "grande",
#: "grandote" "grande", "baratisimo" "barato".
_DIMINUTIVES = (("ecito", ("",)), ("ecita", ("",)), ("cito", ("", "e", "z")),
                ("cita", ("", "e", "z")),
                ("ito", ("o", "e", "")), ("ita", ("a", "e", "")),
                ("azo", ("o", "e", "")), ("aza", ("a", "e", "")), ("ote", ("e", "o", "")),
                ("ota", ("a", "e", "")), ("isimo", ("o", "e")), ("isima", ("a", "e")))


def _undiminished(word: str, vocab: Vocabulary) -> str | None:
    """The word a diminutive or augmentative stands for ("perritos" -> "perros", "cholito" ->
    "cholo", "grandazo" -> "grande"): a word of the store, of the shop lexicon, a function word
    or a quality; or None."""
    plural = word.endswith("s") and not word.endswith("ss")
    base = word[:-1] if plural else word
    for ending, replacements in _DIMINUTIVES:
        stem = base.removesuffix(ending)
        if stem == base or len(stem) < 2:
            continue
        for tail in replacements:
            plain = stem + tail
            if _plain_word(plain, vocab):
                return plain + ("s" if plural else "")
            # "inkita": "inka", spelt "inca" in the store's "Inca Kola".
            sounded = vocab.correct(plain) if len(plain) >= 4 else None
            if sounded and sounded[:1] == plain[:1] and _value_word(sounded, vocab):
                return sounded + ("s" if plural else "")
    return None


def _remedy_for(word: str, vocab: Vocabulary) -> str | None:
    """The store's one word for what acts against ``word``, formed with "anti" on the same
    stem: "antigripal" for "gripe", "antipulgas" for "pulgas", "antialérgico" for "alergia"
    (folded, singular); None when the store has none, or several."""
    stem = singular(word)
    if len(stem) < 4 or not stem.isalpha():
        return None
    found = {singular(w) for w in (*vocab.text_words, *vocab.surfaces)
             if w.startswith("anti") and _same_stem(w[4:], stem)}
    return found.pop() if len(found) == 1 else None


def _same_stem(word: str, stem: str) -> bool:
    """Whether ``word`` starts like ``stem`` for at least four letters and most of ``stem``
    ("gripales" and "gripe", "inflamatorio" and "inflamacion")."""
    shared = next((i for i, (a, b) in enumerate(zip(word, stem, strict=False)) if a != b),
                  min(len(word), len(stem)))
    return shared >= max(4, math.ceil(len(stem) * 0.6))


def _value_word(word: str, vocab: Vocabulary) -> bool:
    """Whether ``word`` is a word of one of the store's values of several words ("kola" of
    "Inca Kola"), or an everyday word for a kind of product ("cola")."""
    return basic_words.is_related(word) or any(word in key for key in vocab.joined.values())


def _plain_word(word: str, vocab: Vocabulary) -> bool:
    """Whether ``word`` is one basic mode reads: the store's, the lexicon's, a function word or
    a quality."""
    return ((word,) in vocab.index or word in vocab.text_words or word in vocab.sold_nouns
            or word in _STOPWORDS or basic_words.is_quality(word) or _value_word(word, vocab))


def _other_gender(word: str, vocab: Vocabulary) -> str | None:
    """The store's word in the other gender ("blanca" -> "blanco", "gatas" -> "gatos")."""
    for ending, other in (("as", "os"), ("os", "as"), ("a", "o"), ("o", "a")):
        if word.endswith(ending) and len(word) > 3:
            form = word[: -len(ending)] + other
            return form if _words_of_store(form, vocab) else None
    return None


def _fix_phrases(tokens: Sequence[str], vocab: Vocabulary) -> list[str]:
    """Words that are, run together, one typo away from a value of several words: "inca
    cola" is the brand "Inca Kola" (each word alone is fine, so no word is corrected)."""
    fixed: list[str] = []
    i = 0
    while i < len(tokens):
        size, target = _phrase_typo(tokens, i, vocab)
        fixed.extend(target or tokens[i:i + 1])
        i += size or 1
    return fixed


def _phrase_typo(tokens: Sequence[str], i: int,
                 vocab: Vocabulary) -> tuple[int, tuple[str, ...] | None]:
    """The value of two or three words that ``tokens[i:]`` misspells, and how many it takes."""
    for n in (3, 2):
        run = tuple(singular(t) for t in tokens[i:i + n])
        joined = "".join(run)
        if len(run) < n or run in vocab.index or len(joined) < 6:
            continue
        found = {key for phrase, key in vocab.joined.items()
                 if phrase != joined and within_one_edit(joined, phrase)}
        if len(found) == 1:
            return n, found.pop()
    return 0, None


def find_constraints(draft: Draft, vocab: Vocabulary, tokens: Sequence[str], known: set[str],
                     originals: dict[str, str] | None = None) -> Reading:
    """What the words ask for on their own: filters, order, count, intent, and cue words."""
    items = _match(vocab, tokens)
    reading = Reading(q=Query(lang=draft.lang), bounds=bool(draft.bounds))
    reading.plural_score = sum(_PLURALITY.get(token, 0) for token in tokens)
    if tokens and tokens[0] in _EXIST_OPENERS:
        reading.flags.add("exist")
    opening = list(itertools.dropwhile(lambda t: t in _OPENERS, tokens))[:1]
    if opening and opening[0] in _WH:
        # "¿qué hay a 100 soles?", "¿qué taladros tienen?": what, not whether.
        reading.flags.add("wh")
    for n in range(len(items)):
        _take_values(reading, items, n)
        _take_order(reading, items, n)
        _take_cues(reading, items, n)
        _take_number_or_word(reading, items, n, known, originals or {})
    if any(singular(w) in vocab.nouns for w in reading.q.keywords):
        # "cemento", "taladro": the message names a product of its own.
        reading.flags.add("noun")
    _settle(reading, draft)
    return reading


def _take_values(r: Reading, items: Sequence[_Item], n: int) -> None:
    """Catalog values: types, families, brands, colours, availability states."""
    item = items[n]
    for kind in _VALUE_KINDS:
        value = item.value(kind)
        if not value or value in r.values[kind]:
            continue
        if kind == "category" and n and "prep" in items[n - 1].kinds() and r.values["category"]:
            # "funda para celular": the second type only describes the first.
            r.q.soft_keywords.append(item.surface[-1])
            continue
        if kind in _EXCLUDABLE and _excepted(items, n) is not None:
            r.q.excluded.append(f"{kind}={value}")
            continue
        r.values[kind].append(value)
    if "other" in item.kinds():
        r.q.others.append(item.value("other") or "")
    if item.kinds() & {"brand", "color"} and n >= 2 and items[n - 1].surface == ("de",) \
            and items[n - 2].value("article") == "sing":
        r.flags.add("which")
    if item.kinds() & {"category", "generic"}:
        r.plural_score += 1 if item.plural else -1


_EXCLUDABLE = ("category", "family", "brand", "color")
_OTHER_SURFACES = frozenset({"otro", "otra", "otros", "otras", "other", "others", "another"})
#: What may stand between "que no sea" and the value it leaves out: "que no sea de la marca".
_BETWEEN_EXCEPT = frozenset({"article", "group", "prep", "stop", "except"})


def _excepted(items: Sequence[_Item], n: int) -> str | None:
    """The exclusion word the value at ``items[n]`` follows ("menos Gloria", "que no sean de la
    marca Gloria", "que no sean Samsung ni Xiaomi"), with only small words between; or None."""
    for i in range(n - 1, max(-1, n - 7), -1):
        kinds, word = items[i].kinds(), items[i].surface[-1]
        if "except" in kinds:
            return word
        if kinds & set(_EXCLUDABLE) or (kinds == {"word"} and i < n - 1):
            # Another value left out, joined to this one: "Samsung ni Xiaomi".
            if items[i + 1].surface[-1] not in _JOINERS:
                return None
        elif not (kinds <= _BETWEEN_EXCEPT or word in _JOINERS):
            return None
    return None


_JOINERS = frozenset({"ni", "nor", "y", "o", "and", "or"})


def _take_order(r: Reading, items: Sequence[_Item], n: int) -> None:
    item = items[n]
    if "order" not in item.kinds():
        return
    order, _, measure = (item.value("order") or "").partition("@")
    r.q.order, r.q.measure = order, measure or None
    if _comparative(items, n):
        # "uno más barato", "algo más caro": compared with what was shown, not "el más barato".
        r.flags.add("comparative")
    if n and "article" in items[n - 1].kinds():
        # "el más caro", "los más baratos": the article right before weighs most.
        r.plural_score += 2 if items[n - 1].value("article") == "plur" else -2
    word = item.surface[-1]
    if _ADJECTIVE_ORDER.match(word):
        r.plural_score += 2 if word.endswith("s") else -2


#: What names the product between an article and a superlative ("el cemento más barato").
_NAMED_KINDS = frozenset({"word", "category", "family", "brand", "color"})
_ENGLISH_COMPARATIVES = frozenset({"cheaper", "pricier", "bigger", "larger", "smaller", "better"})


def _comparative(items: Sequence[_Item], n: int) -> bool:
    """Whether the order word at ``items[n]`` compares ("más barato", "una más barata") rather
    than picks the top ("el más barato", "lo más caro")."""
    if items[n].surface[0] in ("mas", "menos", "more", "less") or "mejor" in items[n].surface[-1] \
            or items[n].surface[-1] in _ENGLISH_COMPARATIVES:
        start = n
    elif n and items[n - 1].surface == ("mas",):
        start = n - 1
    else:
        return False
    # "el de más memoria", "la con más pulgadas", "el cemento más barato": the article may
    # stand before "de" or "con", and before the product named.
    while start and (items[start - 1].surface[-1] in ("de", "con", "of", "with")
                     or items[start - 1].kinds() <= _NAMED_KINDS):
        start -= 1
    return not (start and "article" in items[start - 1].kinds())


def _take_cues(r: Reading, items: Sequence[_Item], n: int) -> None:
    """Articles, "which", intents, groupings, ordinals and the cue words kept as flags."""
    item = items[n]
    kinds = item.kinds()
    if "article" in kinds:
        r.plural_score += 2 if item.value("article") == "plur" else -2
    if "show" in kinds:
        r.plural_score += 1 if item.surface[-1] in ("cuales", "which") else -1
        r.flags.add("show")
    if "intent" in kinds:
        r.intent = item.value("intent")
    if "group" in kinds and r.q.order and item.surface[0] == "que":
        # "lo más caro que venden": a relative clause after a superlative, not "what kinds".
        kinds = kinds - {"group"}
    if "group" in kinds:
        r.group = item.value("group")
        if n and items[n - 1].surface[-1] in ("cada", "each", "every", "por", "per"):
            r.flags.add("per_group")
    if "ordinal" in kinds and not item.plural:
        # "los primeros 3" is a count (read below), "el primero" picks one.
        r.ordinal = int(item.value("ordinal") or 1)
    _take_flags(r, item, kinds & set(_FLAG_KINDS))


def _take_flags(r: Reading, item: _Item, flags: set[str]) -> None:
    """The cue words kept as flags, and what they say of the conversation."""
    if "generic" in flags and item.surface[-1] in _VAGUE:
        # "algo más barato": "something" names nothing, so it cannot start a new search.
        flags = (flags - {"generic"}) | {"vague"}
    elif "generic" in flags and len(item.surface) == 1 and item.surface[0] not in _ALL:
        # "productos de Omron", "medicamentos de Genfar": any product, not those of before.
        r.flags.add("any_product")
    r.flags.update(flags)
    if "more" in flags and item.surface[0] in _OTHER_SURFACES:
        r.flags.add("other_one")
    if "narrow" in flags:
        r.flags.add("followup")
    if "followup" in flags and item.surface[-1] not in _THIS:
        # "esos", "también": pointing back; "¿cuánto está?" is no "esta".
        r.flags.add("pointer")


def _take_number_or_word(r: Reading, items: Sequence[_Item], n: int, known: set[str],
                         originals: dict[str, str]) -> None:
    """A number is a count ("los 5 más baratos") or an attribute ("el de 256", "iphone 15");
    a leftover word is a product word when the catalog has it, else it is ignored."""
    item = items[n]
    kinds = item.kinds()
    before = items[n - 1].surface[-1] if n else ""
    after = _next_content(items, n)
    if "num" in kinds:
        _take_number(r, items, n, before, after)
    elif "one" in kinds and (after in ("subject", "order", "filler") or (
            n == len(items) - 1 and n > 0
            and (before in _COUNT_BEFORE or "order" in items[n - 1].kinds()))):
        r.count = 1
    elif "quality" in kinds:
        # "cerveza bien fría": the store's "helado" is a product; a temperature is not.
        word = item.surface[0]
        if word in known:
            r.q.keywords.append(word)
        else:
            # Quoted as the customer wrote it ("calientito").
            r.q.unsaid.append(originals.get(word, word))
    elif "word" in kinds and item.surface[0] not in _GREETING and (
            len(item.surface[0]) > 1 or item.surface[0] in known):
        # A lone letter the catalog does not have ("m das el precio") says nothing.
        # "hola, ¿tienen...?": a courtesy is neither a product word nor an unknown one.
        word = item.surface[0]
        if word in known and _excepted(items, n) not in (None, "sin", "without"):
            # "leche que no sea light": a word of the names left out ("agua sin gas" keeps it).
            r.q.excluded.append(f"word={word}")
        elif word in known and n and "prep" in items[n - 1].kinds() and r.values["category"]:
            # "zapatillas pa correr": a use, looked for but let go when nothing has it.
            r.q.soft_keywords.append(word)
        elif word in known:
            r.q.keywords.append(word)
        elif _for_a_use(r, items, n):
            # "taladro pa concreto": a use the catalog does not write; looked for, let go.
            r.q.soft_keywords.append(word)
        else:
            # Quote what the user typed, not the word a typo correction guessed.
            r.q.ignored.append(originals.get(word, word))
            if not _after_preposition(items, n):
                r.flags.add("unplaced")


def _take_number(r: Reading, items: Sequence[_Item], n: int, before: str, after: str) -> None:
    """A number: a count ("los 5 más baratos") or an attribute ("el de 256", "iphone 15"); after
    "el" or "número" also maybe the number a list showed a product with ("el 7")."""
    number = int(items[n].surface[0])
    if before in _NUMBER_MARKS or (n and items[n - 1].value("article") == "sing"):
        # "el 7", "el número 7": the product shown as "7.", if a list showed one.
        r.number = number
    if 0 < number <= 100 and (before in _COUNT_BEFORE or after in _COUNT_AFTER
                              or len(items) == 1):
        r.count = number
    else:
        r.q.attributes.append(basic_words.bare(items[n].surface[0]))


def _after_preposition(items: Sequence[_Item], n: int) -> bool:
    """Whether the word at ``items[n]`` follows a preposition, maybe with articles and small
    words between ("pa la lonchera", "para mi suegra")."""
    i = n - 1
    while i >= 0 and items[i].kinds() <= {"article", "stop"}:
        i -= 1
    return i >= 0 and "prep" in items[i].kinds()


def _for_a_use(r: Reading, items: Sequence[_Item], n: int) -> bool:
    """Whether the word at ``items[n]`` says what a product named before is for: "para"
    ("pa"), maybe with an article, between them ("jarabe pa la tos")."""
    i = n - 1
    while i >= 0 and "article" in items[i].kinds():
        i -= 1
    return i > 0 and items[i].surface[-1] in ("para", "for") and bool(
        r.values["category"] or r.q.keywords)


_COUNT_AFTER = frozenset({"subject", "order", "more", "filler"})
#: Words before the number a list showed a product with ("el número 7", "el nro 7").
_NUMBER_MARKS = frozenset({"numero", "nro", "number"})


def _settle(r: Reading, draft: Draft) -> None:
    """Put the reading's values, bounds, attributes, intent and size into its query."""
    q = r.q
    q.categories, q.families, q.brands = r.values["category"], r.values["family"], r.values["brand"]
    q.colors, q.availability = r.values["color"], r.values["availability"]
    q.groupings = r.values["grouping"]
    _apply_bounds(q, draft.bounds)
    for measure, side, amount in draft.sizes:
        # One measure per question: "teles de más de 50 pulgadas".
        q.measure = measure
        setattr(q, f"{side}_size", amount)
    q.attributes = basic_words.replace_attributes([], [*draft.attributes, *q.attributes])
    q.stock_check = "stockq" in r.flags
    q.exists = "exist" in r.flags or q.stock_check
    q.asks_what = "wh" in r.flags
    if r.count is not None and q.exists and r.count == 1 and "filler" not in r.flags:
        r.count = None
    if r.group and "per_group" in r.flags and q.order:
        q.group, q.intent = r.group, "per_group"
    elif r.group and not getattr(q, _GROUP_FIELD[r.group]):
        q.group = r.group
        q.intent = "count" if r.intent == "count" else "overview"
    elif r.intent:
        q.intent = r.intent
    q.limit = _limit(r.count, q.order is not None and r.plural_score <= 0)
    if r.ordinal is not None and r.ordinal > 1 and q.order and r.count is None:
        # "el segundo más barato": one product, after the first ones.
        q.offset, q.limit = r.ordinal - 1, 1
    # A bare "iphone 15" names a product; "algo para la cocina" describes a use.
    q.names_only = bool(q.keywords) and not (
        r.names_things or r.modifiers or r.flags & {"cue", "exist", "generic", "prep"})


def decide(r: Reading, draft: Draft, previous: Query | None,
           shown: Sequence[int] = (), numbered: Mapping[int, int] | None = None) -> str:
    """What the message does in its conversation.

    "query" (a question on its own), "new_topic" (it names another type or family: nothing of
    the previous answer is kept), "refine" (it narrows, reorders, counts or swaps a brand of the
    previous answer, which it keeps), "pick" (one product of the list shown), "page" (more of
    the same), or "unknown" / "unsupported" (not a catalog question basic mode can answer).
    """
    if "unsupported" in r.flags:
        return "unsupported"
    if r.off_catalog:
        return "unknown"
    if previous is None or previous.intent not in _FOLLOWABLE:
        return "query" if r.subject or r.modifiers else "unknown"
    if _picked_id(r, shown, numbered) is not None:
        return "pick"
    if previous.intent == "list" and "more" in r.flags and not r.subject and not (
            r.q.order or r.q.colors or r.q.availability or r.bounds or r.intent or r.q.group
            or r.q.attributes):
        return "page"
    if _starts_over(r, draft) or _starts_new_topic(r, previous):
        return "new_topic"
    if _refines(r, draft):
        return "refine"
    return "query" if r.subject or r.modifiers else "unknown"


def _picked_id(r: Reading, shown: Sequence[int],
               numbered: Mapping[int, int] | None = None) -> int | None:
    """The product "el segundo", "el 7", "el número 7" or "the last one" picks (when nothing
    else is named), by the numbers the customer saw: ``numbered`` maps the numbers a list of
    this conversation showed to its products (after "más", 6 to 10 as well as 1 to 5), so
    "el segundo" is the one shown as "2.". An ordinal no list showed is counted on the page
    ``shown``; a bare number no list showed is no pick ("el 500" is a size)."""
    if not shown or r.names_things or (r.subject and not r.q.exists):
        return None
    numbers = numbered or {}
    if r.ordinal is None:
        return numbers.get(r.number) if r.number is not None else None
    if r.ordinal > 0 and r.ordinal in numbers:
        return numbers[r.ordinal]
    index = r.ordinal - 1 if r.ordinal > 0 else len(shown) + r.ordinal
    return int(shown[index]) if 0 <= index < len(shown) else None


def _starts_new_topic(r: Reading, previous: Query) -> bool:
    """A type or family that replaces the one being talked about starts over.

    "¿y licuadoras?" after Sony headphones, "precio promedio de las refrigeradoras" after
    laptops. A type that narrows what came before ("algo entre 100 y 300" then "que sea de
    deporte", a family then one of its types) and "de esos" / "solo" refine instead.
    """
    q = r.q
    if "followup" in r.flags or not (q.categories or q.families):
        return False
    narrows = not (previous.categories or previous.families or previous.keywords
                   or previous.heads) or bool(
        q.categories and previous.families and not previous.categories)
    return not narrows


def _starts_over(r: Reading, draft: Draft) -> bool:
    """A complete question of its own: it names a product ("¿cuál es el cemento más barato?",
    "taladro bosch cuánto está"), any product ("productos de Omron") or "something" with a
    price ("algo de menos de 20"), with nothing that points back ("¿y...?", "de esos", "otro",
    "más barato"). Nothing of the previous answer is kept: its brand or price bound would
    answer another question."""
    if draft.leading_followup or r.flags & _FOLLOWUP_FLAGS or r.q.others:
        return False
    if r.flags & {"noun", "any_product"}:
        return True
    return "vague" in r.flags and r.bounds


def _refines(r: Reading, draft: Draft) -> bool:
    """Whether a message that starts no new topic works on the previous answer."""
    # "¿tienes otra cosa parecida?": "cosa" names nothing new.
    followup = draft.leading_followup or bool(r.flags & {"followup", "show", "similar"})
    if r.names_things:
        # A brand alone ("solo Samsung", "how many are Epson?") or a narrower type.
        return True
    if r.subject:
        return followup
    # "¿y calientito?": a quality alone asks about what was shown.
    return r.modifiers or followup or r.q.exists or bool(r.q.unsaid)


def build_query(decision: str, r: Reading, draft: Draft, previous: Query | None,
                shown: Sequence[int] = (), numbered: Mapping[int, int] | None = None) -> Query:
    """The query to run for ``decide``'s verdict."""
    q, lang = r.q, draft.lang
    if decision in ("unknown", "unsupported"):
        return replace(Query(intent=decision, lang=lang), ignored=q.ignored, exists=q.exists)
    if decision == "pick":
        picked = _picked_id(r, shown, numbered)
        assert picked is not None
        if r.ordinal is None and r.number is not None:
            # "el 7" named the product shown as "7.": no size of 7 is asked of it.
            q = replace(q, attributes=[a for a in q.attributes
                                       if a != basic_words.bare(str(r.number))])
        # A yes/no question about it ("¿el segundo tiene garantía?") keeps what it asks.
        asks = bool(q.colors or q.availability or q.keywords or q.attributes or r.bounds)
        return replace(q, intent="pick", pick=picked, order=None, offset=0,
                       limit=1, names_only=False, exists=q.exists or asks)
    if decision == "page" and previous is not None:
        page = _page(previous, r.count, lang)
        page.unsaid = q.unsaid
        # "¿tienes otro?" once all were shown: other products of the same kind.
        page.move = "other" if r.flags & {"other_one", "similar"} else None
        return page
    if decision == "refine" and previous is not None:
        # "¿de qué marca?", "q marcas manejan": a question about a column asks anew.
        explicit = r.intent is not None or q.order is not None or r.count is not None \
            or q.group is not None or bool(r.flags & {"show", "cue"})
        merged = _merge(previous, q, r.count, explicit_intent=explicit,
                        narrow="narrow" in r.flags)
        if _asks_anew(r, draft):
            merged = _without_details(merged, previous, q)
        if _asks_similar(r):
            return _similar(merged, r)
        if _asks_size(r, shown):
            return _sized_against_shown(merged, r)
        merged.which = "which" in r.flags and bool(shown) and not (
            r.q.keywords or r.q.categories or r.q.families or r.q.order)
        return _other_one(merged, r, shown)
    return _other_one(q, r, shown)


def _asks_anew(r: Reading, draft: Draft) -> bool:
    """"¿Tienen inka kola?" after a six pack of Pilsen or "la gaseosa más cara", "¿cuánto
    cuesta la inca kola?" after "la más grande": a yes/no or price question naming a brand
    or product of its own, with nothing that points back ("¿y...?", "de esos", "solo",
    "otro", "más barato")."""
    if draft.leading_followup or r.flags & _FOLLOWUP_FLAGS or r.q.others:
        return False
    asks = "exist" in r.flags or bool(_PRICE_CUES.intersection(draft.tokens))
    return asks and (r.names_things or bool(r.q.keywords))


#: Words that ask a price ("¿cuánto cuesta…?", "precio de…"), not an order or a count.
_PRICE_CUES = frozenset({"precio", "cuesta", "cuestan", "cuanto", "vale", "valen", "cost",
                         "costs", "price"})


def _without_details(merged: Query, previous: Query, new: Query) -> Query:
    """A new yes/no question keeps the kind and the price talked about, but asks nothing of
    the order or count of before ("¿tienen inka kola?" after "la gaseosa más cara": both
    Inca Kolas). The presentation or size asked of another brand ("six pack de Pilsen", then
    "¿tienen inka kola?") went with that brand; the customer's own one ("zapatillas talla 40",
    then "¿hay nike?") stays, as does any the new question says."""
    merged = replace(merged, order=new.order, limit=new.limit, offset=0)
    swapped = bool(previous.brands and new.brands and previous.brands != new.brands)
    if not (swapped or new.attributes):
        return merged
    sized = new.min_size is not None or new.max_size is not None
    return replace(merged, attributes=list(new.attributes),
                   min_size=new.min_size if sized or swapped else merged.min_size,
                   max_size=new.max_size if sized or swapped else merged.max_size,
                   measure=new.measure if sized or swapped else merged.measure)


def _other_one(q: Query, r: Reading, shown: Sequence[int]) -> Query:
    """"¿Tienes otra consola?" after a PlayStation: the products named, but not the ones just
    shown (``others`` "product", resolved by the engine)."""
    if "other_one" in r.flags and shown and (r.names_things or r.q.keywords):
        return replace(q, others=list(dict.fromkeys([*q.others, "product"])))
    return q


def _asks_size(r: Reading, shown: Sequence[int]) -> bool:
    """"¿Tendrás una más grande?", "una más chiquita": bigger or smaller than what was shown.
    After a list, only when another one is asked for ("una", "otra", "algo"): "¿y con más
    memoria?" over a list picks the biggest of it."""
    one = len(shown) == 1 or r.count == 1 or bool(r.flags & {"vague", "more"})
    return (one and "comparative" in r.flags and r.q.order in ("size_desc", "size_asc")
            and not (r.names_things or r.q.keywords or r.q.attributes))


def _sized_against_shown(merged: Query, r: Reading) -> Query:
    """The same products (brand and words kept), bigger or smaller than the ones shown: their
    sizes go, what was shown is left out, the closest size first."""
    bigger = r.q.order == "size_desc"
    return replace(merged, attributes=[], relative="bigger" if bigger else "smaller",
                   order="size_asc" if bigger else "size_desc", measure=r.q.measure,
                   others=list(dict.fromkeys([*merged.others, "product"])),
                   limit=_limit(r.count, False))


def _asks_similar(r: Reading) -> bool:
    """"Algo parecido", "¿tendrás uno más baratito?": other products like the ones shown (a
    comparative with no price bound and no product named)."""
    comparative = "comparative" in r.flags and r.q.order in ("price_asc", "price_desc") \
        and not r.bounds
    return ("similar" in r.flags or comparative) and not (r.names_things or r.q.keywords)


def widen(q: Query) -> Query:
    """Other products of the kind ``q`` was about: its brand, colour and sizes dropped, the
    products shown left out, and the kind read from them when ``q`` names none (``others``
    "product" and "kind", resolved by the engine, which knows what was shown)."""
    wide = replace(q, brands=[], colors=[], attributes=[], offset=0, move=None,
                   min_size=None, max_size=None,
                   excluded=[e for e in q.excluded if not e.startswith("brand=")])
    others = ["product"]
    if not (wide.categories or wide.families or wide.keywords):
        others.append("kind")
    wide.others = list(dict.fromkeys([*wide.others, *others]))
    return wide


def _similar(merged: Query, r: Reading) -> Query:
    """Other products of the kind shown: the brand, colour and sizes asked before go (unless
    named again), what was shown is left out (``others`` "product", resolved by the engine), and
    a comparative sets a price bound against what was shown."""
    new = r.q
    similar = widen(replace(merged, brands=[], colors=[], attributes=[]))
    similar.brands, similar.colors = new.brands, new.colors
    similar.attributes = new.attributes
    if "comparative" in r.flags and new.order in ("price_asc", "price_desc"):
        # Closest in price first: just under what was shown, or just over it.
        similar.relative = "cheaper" if new.order == "price_asc" else "pricier"
        similar.order = "price_desc" if new.order == "price_asc" else "price_asc"
        similar.limit = _limit(r.count, False)
    return similar


_GROUP_FIELD = {"category": "categories", "brand": "brands", "family": "families",
                "color": "colors", "size": "attributes"}
_FOLLOWABLE = {"list", "count", "average", "units", "overview", "pick", "per_group"}


def _next_content(items: Sequence[_Item], n: int) -> str:
    """What the next meaningful item is, skipping 'de'/'of': a subject, an order word, ..."""
    for item in items[n + 1:]:
        kinds = item.kinds()
        if item.surface == ("de",) or item.surface == ("of",):
            continue
        if kinds & {"category", "family", "brand", "generic", "grouping"}:
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
                   ignored=[], move=None, relative=None)


def _merge_bounds(merged: Query, new: Query) -> None:
    """A new price or stock bound replaces the old one on the same side, and an old bound on
    the other side that it contradicts ("menos de 20" then "¿y de más de 1000?" asks for over
    1000, never for an empty range from 1000 to 20)."""
    if new.min_price is not None:
        merged.min_price, merged.min_inclusive = new.min_price, new.min_inclusive
        if new.max_price is None and empty_price_range(merged):
            merged.max_price, merged.max_inclusive = None, True
    if new.max_price is not None:
        merged.max_price, merged.max_inclusive = new.max_price, new.max_inclusive
        if new.min_price is None and empty_price_range(merged):
            merged.min_price, merged.min_inclusive = None, True
    if new.min_stock is not None:
        merged.min_stock = new.min_stock
    if new.min_size is not None or new.max_size is not None:
        merged.min_size, merged.max_size = new.min_size, new.max_size


def empty_price_range(q: Query) -> bool:
    """Whether no price can be within both of ``q``'s price bounds (low end above high end)."""
    if q.min_price is None or q.max_price is None:
        return False
    if q.min_price == q.max_price:
        return not (q.min_inclusive and q.max_inclusive)
    return q.min_price > q.max_price


_OTHER_FIELD = {"brand": "brands", "color": "colors", "category": "categories"}


def _merge_exclusions(merged: Query, previous: Query, new: Query) -> None:
    """"¿y de otra marca?": the brand shown before is left out; a value named again is not."""
    excluded = [*previous.excluded, *new.excluded]
    if new.categories or new.families or new.keywords:
        # Other products named: the ones shown before are no longer the ones left out.
        excluded = [e for e in excluded if not e.startswith("id=") or e in new.excluded]
    unresolved = []
    for kind in new.others:
        name = _OTHER_FIELD.get(kind)
        if name and getattr(previous, name) and not getattr(new, name):
            excluded += [f"{kind}={v}" for v in getattr(previous, name)]
            setattr(merged, name, [])
        elif name and not getattr(new, name):
            # Nothing asked before says which: the products shown do (see BasicEngine).
            unresolved.append(kind)
    if "brand" in new.others and "brand" not in unresolved:
        # "aceite primor", then "otra marca": still oils (the engine keeps the kind shown).
        unresolved.append("product")
    named = {f"{kind}={v}" for kind, name in _OTHER_FIELD.items() for v in getattr(merged, name)}
    merged.excluded = [e for e in dict.fromkeys(excluded) if e not in named]
    if new.others and not (merged.categories or merged.families or merged.keywords):
        # "inca kola", then "¿otra marca?": other gaseosas, not everything else in the shop.
        unresolved.append("kind")
    merged.others = unresolved


def _merge_words(merged: Query, previous: Query, new: Query, narrow: bool) -> None:
    """A follow-up's product words and sizes on top of the previous ones: with ``narrow``
    ("solo las de lata") they narrow the previous words; other words drop the old model
    number and the kind a follow-up had kept ("leche", then "¿y arroz?")."""
    if narrow and new.keywords:
        merged.keywords = list(dict.fromkeys([*previous.keywords, *new.keywords]))
    if new.keywords or new.categories or new.families:
        merged.heads, merged.kind_words = [], []
    if new.attributes:
        merged.attributes = basic_words.replace_attributes(previous.attributes, new.attributes)
    elif new.keywords:
        # Other product words ("¿y xbox?" after "play 5"): the old model number goes too.
        merged.attributes = []
    if new.keywords:
        merged.names_only = new.names_only


def _merge(previous: Query, new: Query, count: int | None, *, explicit_intent: bool,
           narrow: bool = False) -> Query:
    """A follow-up: the previous filters, with what the new message says on top. With
    ``narrow`` ("solo las de lata"), its product words narrow the previous ones."""
    # "¿tienen impresoras de menos de 700?" then "¿y Epson?": still a yes/no question.
    exists = new.exists or (previous.exists and not explicit_intent)
    merged = replace(previous, offset=0, pick=None, lang=new.lang, ignored=new.ignored,
                     exists=exists, stock_check=new.stock_check, move=None, relative=None,
                     asks_what=new.asks_what)
    if new.categories:
        merged.categories, merged.families = new.categories, []
    if new.families:
        merged.families, merged.categories = new.families, []
    for name in ("brands", "colors", "availability", "groupings", "keywords", "soft_keywords"):
        if getattr(new, name):
            setattr(merged, name, getattr(new, name))
    _merge_words(merged, previous, new, narrow)
    _merge_bounds(merged, new)
    _merge_exclusions(merged, previous, new)
    merged.order = new.order or previous.order
    # A size order or bound says what it measures; a price order keeps the size bounds' measure.
    sized = new.order in ("size_desc", "size_asc") or new.min_size is not None \
        or new.max_size is not None
    merged.measure = new.measure if sized else previous.measure
    merged.unsaid = new.unsaid
    if count is not None or new.order:
        merged.limit = new.limit
    elif not (previous.limit == 1 and previous.order):
        merged.limit = DEFAULT_LIMIT
    # else "¿cuál es la más barata?" then "¿y de 65 pulgadas?": still the cheapest one.
    if explicit_intent or previous.intent == "pick":
        merged.intent, merged.group = new.intent, new.group
    return merged
