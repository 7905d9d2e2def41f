package normalize

// countryData lists every ISO 3166-1 code as
// "alpha2 alpha3|English name|alias|…". Names are matched after lower-casing
// and removing everything that is not a letter, and again with accents
// removed, so "Côte d'Ivoire", "cote divoire" and "COTE D IVOIRE" all match.
const countryData = `ad and|andorra
ae are|united arab emirates|uae|emirates
af afg|afghanistan
ag atg|antigua and barbuda|antigua
ai aia|anguilla
al alb|albania
am arm|armenia
ao ago|angola
aq ata|antarctica
ar arg|argentina
as asm|american samoa
at aut|austria|österreich
au aus|australia
aw abw|aruba
ax ala|åland islands|aland
az aze|azerbaijan
ba bih|bosnia and herzegovina|bosnia
bb brb|barbados
bd bgd|bangladesh
be bel|belgium|belgique|belgië
bf bfa|burkina faso
bg bgr|bulgaria
bh bhr|bahrain
bi bdi|burundi
bj ben|benin
bl blm|saint barthélemy|st barthelemy
bm bmu|bermuda
bn brn|brunei|brunei darussalam
bo bol|bolivia|plurinational state of bolivia
bq bes|bonaire, sint eustatius and saba|caribbean netherlands|bonaire
br bra|brazil|brasil
bs bhs|bahamas|the bahamas
bt btn|bhutan
bv bvt|bouvet island
bw bwa|botswana
by blr|belarus
bz blz|belize
ca can|canada
cc cck|cocos (keeling) islands|cocos islands
cd cod|democratic republic of the congo|dr congo|drc|congo kinshasa|congo, the democratic republic of the
cf caf|central african republic
cg cog|republic of the congo|congo|congo brazzaville
ch che|switzerland|schweiz|suisse|svizzera
ci civ|côte d'ivoire|ivory coast
ck cok|cook islands
cl chl|chile
cm cmr|cameroon
cn chn|china|people's republic of china|prc
co col|colombia
cr cri|costa rica
cu cub|cuba
cv cpv|cabo verde|cape verde
cw cuw|curaçao
cx cxr|christmas island
cy cyp|cyprus
cz cze|czechia|czech republic
de deu|germany|deutschland
dj dji|djibouti
dk dnk|denmark|danmark
dm dma|dominica
do dom|dominican republic
dz dza|algeria
ec ecu|ecuador
ee est|estonia
eg egy|egypt
eh esh|western sahara
er eri|eritrea
es esp|spain|españa
et eth|ethiopia
fi fin|finland|suomi
fj fji|fiji
fk flk|falkland islands|falkland islands (malvinas)|malvinas
fm fsm|micronesia|federated states of micronesia
fo fro|faroe islands|faroes
fr fra|france
ga gab|gabon
gb gbr|united kingdom|uk|great britain|britain|england|scotland|wales|northern ireland|united kingdom of great britain and northern ireland
gd grd|grenada
ge geo|georgia
gf guf|french guiana
gg ggy|guernsey
gh gha|ghana
gi gib|gibraltar
gl grl|greenland
gm gmb|gambia|the gambia
gn gin|guinea
gp glp|guadeloupe
gq gnq|equatorial guinea
gr grc|greece|hellas
gs sgs|south georgia and the south sandwich islands
gt gtm|guatemala
gu gum|guam
gw gnb|guinea-bissau
gy guy|guyana
hk hkg|hong kong
hm hmd|heard island and mcdonald islands
hn hnd|honduras
hr hrv|croatia|hrvatska
ht hti|haiti
hu hun|hungary
id idn|indonesia
ie irl|ireland|republic of ireland|eire
il isr|israel
im imn|isle of man
in ind|india
io iot|british indian ocean territory
iq irq|iraq
ir irn|iran|islamic republic of iran
is isl|iceland
it ita|italy|italia
je jey|jersey
jm jam|jamaica
jo jor|jordan
jp jpn|japan
ke ken|kenya
kg kgz|kyrgyzstan
kh khm|cambodia
ki kir|kiribati
km com|comoros
kn kna|saint kitts and nevis|st kitts and nevis
kp prk|north korea|democratic people's republic of korea
kr kor|south korea|korea|republic of korea
kw kwt|kuwait
ky cym|cayman islands
kz kaz|kazakhstan
la lao|laos|lao people's democratic republic
lb lbn|lebanon
lc lca|saint lucia|st lucia
li lie|liechtenstein
lk lka|sri lanka
lr lbr|liberia
ls lso|lesotho
lt ltu|lithuania
lu lux|luxembourg
lv lva|latvia
ly lby|libya
ma mar|morocco
mc mco|monaco
md mda|moldova|republic of moldova
me mne|montenegro
mf maf|saint martin|st martin
mg mdg|madagascar
mh mhl|marshall islands
mk mkd|north macedonia|macedonia
ml mli|mali
mm mmr|myanmar|burma
mn mng|mongolia
mo mac|macao|macau
mp mnp|northern mariana islands
mq mtq|martinique
mr mrt|mauritania
ms msr|montserrat
mt mlt|malta
mu mus|mauritius
mv mdv|maldives
mw mwi|malawi
mx mex|mexico|méxico
my mys|malaysia
mz moz|mozambique
na nam|namibia
nc ncl|new caledonia
ne ner|niger
nf nfk|norfolk island
ng nga|nigeria
ni nic|nicaragua
nl nld|netherlands|the netherlands|holland|nederland
no nor|norway|norge
np npl|nepal
nr nru|nauru
nu niu|niue
nz nzl|new zealand
om omn|oman
pa pan|panama
pe per|peru
pf pyf|french polynesia
pg png|papua new guinea
ph phl|philippines
pk pak|pakistan
pl pol|poland|polska
pm spm|saint pierre and miquelon
pn pcn|pitcairn|pitcairn islands
pr pri|puerto rico
ps pse|palestine|state of palestine|palestinian territories
pt prt|portugal
pw plw|palau
py pry|paraguay
qa qat|qatar
re reu|réunion|reunion
ro rou|romania
rs srb|serbia
ru rus|russia|russian federation
rw rwa|rwanda
sa sau|saudi arabia
sb slb|solomon islands
sc syc|seychelles
sd sdn|sudan
se swe|sweden|sverige
sg sgp|singapore
sh shn|saint helena, ascension and tristan da cunha|saint helena|st helena
si svn|slovenia
sj sjm|svalbard and jan mayen
sk svk|slovakia|slovak republic
sl sle|sierra leone
sm smr|san marino
sn sen|senegal
so som|somalia
sr sur|suriname
ss ssd|south sudan
st stp|sao tome and principe|são tomé and príncipe
sv slv|el salvador
sx sxm|sint maarten
sy syr|syria|syrian arab republic
sz swz|eswatini|swaziland
tc tca|turks and caicos islands
td tcd|chad
tf atf|french southern territories
tg tgo|togo
th tha|thailand
tj tjk|tajikistan
tk tkl|tokelau
tl tls|timor-leste|east timor
tm tkm|turkmenistan
tn tun|tunisia
to ton|tonga
tr tur|türkiye|turkey|turkiye
tt tto|trinidad and tobago|trinidad
tv tuv|tuvalu
tw twn|taiwan
tz tza|tanzania|united republic of tanzania
ua ukr|ukraine
ug uga|uganda
um umi|united states minor outlying islands
us usa|united states|united states of america|america|u.s.|u.s.a.|us of a
uy ury|uruguay
uz uzb|uzbekistan
va vat|holy see|vatican|vatican city
vc vct|saint vincent and the grenadines|st vincent and the grenadines
ve ven|venezuela
vg vgb|british virgin islands|virgin islands, british
vi vir|u.s. virgin islands|us virgin islands|virgin islands, u.s.
vn vnm|vietnam|viet nam
vu vut|vanuatu
wf wlf|wallis and futuna
ws wsm|samoa
ye yem|yemen
yt myt|mayotte
za zaf|south africa
zm zmb|zambia
zw zwe|zimbabwe
`

// stateData lists US states, districts and territories and Canadian
// provinces and territories as "code|name|alias|…".
const stateData = `al|alabama
ak|alaska
az|arizona
ar|arkansas
ca|california
co|colorado
ct|connecticut
de|delaware
dc|district of columbia|washington dc|washington d.c.
fl|florida
ga|georgia
hi|hawaii
id|idaho
il|illinois
in|indiana
ia|iowa
ks|kansas
ky|kentucky
la|louisiana
me|maine
md|maryland
ma|massachusetts
mi|michigan
mn|minnesota
ms|mississippi
mo|missouri
mt|montana
ne|nebraska
nv|nevada
nh|new hampshire
nj|new jersey
nm|new mexico
ny|new york|new york state
nc|north carolina
nd|north dakota
oh|ohio
ok|oklahoma
or|oregon
pa|pennsylvania
ri|rhode island
sc|south carolina
sd|south dakota
tn|tennessee
tx|texas
ut|utah
vt|vermont
va|virginia
wa|washington|washington state
wv|west virginia
wi|wisconsin
wy|wyoming
as|american samoa
gu|guam
mp|northern mariana islands
pr|puerto rico
vi|us virgin islands|u.s. virgin islands|virgin islands
um|united states minor outlying islands
aa|armed forces americas
ae|armed forces europe
ap|armed forces pacific
ab|alberta
bc|british columbia|colombie-britannique
mb|manitoba
nb|new brunswick|nouveau-brunswick
nl|newfoundland and labrador|newfoundland|terre-neuve-et-labrador
ns|nova scotia|nouvelle-écosse
nt|northwest territories|territoires du nord-ouest
nu|nunavut
on|ontario
pe|prince edward island|île-du-prince-édouard
qc|quebec|québec
sk|saskatchewan
yt|yukon|yukon territory
`
